//! `ballast-consumer`: the demo consumer. See the library docs and `ballast-consumer --help`.

fn main() -> std::process::ExitCode {
    ballast_consumer::cli::main()
}
