//! Writes a crafted component for the load scripts in `bench/`:
//! `craft compile-bomb LOCALS TARGETS OUT.wasm` (see `kith_tests::crafted::compile_bomb`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [kind, locals, targets, out] if kind == "compile-bomb" => locals
            .parse::<u32>()
            .ok()
            .zip(targets.parse::<u32>().ok())
            .map(|(l, t)| (l, t, out)),
        _ => None,
    };
    let Some((locals, targets, out)) = parsed else {
        eprintln!("usage: craft compile-bomb LOCALS TARGETS OUT.wasm");
        std::process::exit(2);
    };
    let bytes = kith_tests::crafted::compile_bomb(locals, targets);
    if let Err(e) = std::fs::write(out, &bytes) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
    println!("{out}: {} bytes", bytes.len());
}
