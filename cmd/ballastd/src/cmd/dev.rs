//! `ballastd dev` (being built).

use crate::Global;

/// `ballastd dev` options.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, _g: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`ballastd dev` is not built yet")
}
