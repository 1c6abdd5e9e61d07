//! `ballast-vigilante`: submits Ballast checkpoints to Bitcoin and relays Bitcoin headers and
//! SPV proofs to Ballast. See the library docs and `ballast-vigilante --help`.

fn main() -> std::process::ExitCode {
    ballast_vigilante::cli::main()
}
