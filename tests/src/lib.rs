//! Shared helpers for Kith's integration and end-to-end tests.

pub mod cdnow;

/// Paths of the plugin components built by `build.rs`, one constant per crate in `plugins/`
/// (`plugins/rfm-scorer` -> `RFM_SCORER`), and `ALL` as (directory, path) pairs.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// Waits for a `kith serve` spawned with a piped stderr to say where it listens (`kith listening
/// on http://ADDR`) and returns `ADDR`; `seen` gets each line before that one. The rest of its
/// stderr is then read in a thread, so that a full pipe never stalls the server.
///
/// # Panics
/// When the server exits before it listens.
pub fn listening(child: &mut std::process::Child, mut seen: impl FnMut(&str)) -> String {
    use std::io::BufRead;
    let stderr = child
        .stderr
        .take()
        .expect("spawn kith serve with stderr piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("kith serve exited before it listened")
            .expect("read kith serve's stderr");
        if let Some(addr) = line.strip_prefix("kith listening on http://") {
            break addr.to_owned();
        }
        seen(&line);
    };
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

/// The base64 HMAC-SHA256 of `body` under `secret`: a webhook signature as Shopify, WooCommerce
/// and Kith's generic orders send it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Components built in code rather than from `plugins/`: inputs that no plugin author would
/// write, for the host's defences.
pub mod crafted {
    use wasm_encoder::{
        BlockType, CodeSection, Component, ExportKind, ExportSection, Function, FunctionSection,
        Module, ModuleSection, TypeSection, ValType,
    };

    /// A component holding one core module with one function that is cheap to validate and
    /// expensive to compile: `locals` i64 locals, all live across a loop whose `br_table`
    /// jumps to one of `targets` blocks, each of which touches a few of them. Register
    /// allocation over it needs memory and time that grow with `locals × targets`, while its
    /// size grows with `locals + targets` (a few hundred KB can need gigabytes).
    pub fn compile_bomb(locals: u32, targets: u32) -> Vec<u8> {
        let locals = locals.max(1);
        let targets = targets.max(1);
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I64]);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut body = Function::new([(locals, ValType::I64)]);
        let local = |i: u32| 1 + i % locals;
        let mut code = body.instructions();
        code.loop_(BlockType::Empty);
        for _ in 0..targets {
            code.block(BlockType::Empty);
        }
        code.local_get(0).br_table(0..targets, targets - 1);
        // A cheap pseudo-random walk over the locals, so that every one is live everywhere.
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..targets {
            code.end();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                code.local_get(local(x))
                    .local_get(local(x >> 8))
                    .i64_add()
                    .local_set(local(x >> 16));
            }
        }
        code.local_get(0)
            .i32_const(1)
            .i32_sub()
            .local_tee(0)
            .br_if(0)
            .end();
        // Every local is read after the loop, so none of them is dead inside it.
        code.i64_const(0);
        for i in 0..locals {
            code.local_get(1 + i).i64_add();
        }
        code.end();
        let mut code_section = CodeSection::new();
        code_section.function(&body);
        let mut exports = ExportSection::new();
        exports.export("bomb", ExportKind::Func, 0);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&exports)
            .section(&code_section);
        let mut component = Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }
}
