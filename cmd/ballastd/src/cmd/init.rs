//! `ballastd init` (being built).

use crate::Global;

/// `ballastd init` options.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, _g: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`ballastd init` is not built yet")
}
