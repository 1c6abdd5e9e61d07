//! `ballast-vigilante`: the checkpoint submitter and the Bitcoin reporter (being written).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("ballast-vigilante is not built yet")
}
