fn main() {
    std::process::exit(kith::cli::main())
}
