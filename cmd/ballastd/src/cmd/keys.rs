//! `ballastd keys` (being built).

use crate::Global;

/// `ballastd keys` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {}

pub fn run(c: Cmd, _g: &Global) -> anyhow::Result<()> {
    match c {}
}
