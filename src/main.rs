fn main() -> std::process::ExitCode {
    siaga::cli::main()
}
