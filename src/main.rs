fn main() -> std::process::ExitCode {
    aduan::cli::main()
}
