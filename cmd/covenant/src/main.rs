//! `ballast-covenant`: a covenant member's signer. See the library docs and
//! `ballast-covenant --help`.

fn main() -> std::process::ExitCode {
    ballast_covenant::cli::main()
}
