//! `ballastd query` and `ballastd status` (being built).

use crate::Global;

/// `ballastd query` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {}

/// `ballastd status` options.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {}

pub fn run(c: Cmd, _g: &Global) -> anyhow::Result<()> {
    match c {}
}

pub fn status(_a: StatusArgs, _g: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`ballastd status` is not built yet")
}
