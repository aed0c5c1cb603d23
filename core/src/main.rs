fn main() {
    std::process::exit(kith_core::cli::main())
}
