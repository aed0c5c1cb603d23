//! The `kith` command, built inside this crate so that its end-to-end tests can run the real
//! binary (`CARGO_BIN_EXE_kith_under_test`; Cargo only exposes a crate's own binaries).

fn main() {
    std::process::exit(kith::cli::main())
}
