//! `ballastd btc`: offline tools for BTC staking.
//!
//! `staking-scripts --input <file.json>` reads a description of a delegation in the format of
//! the reference vectors (`shared/vectors/btc-staking/*.json`): `network`, `keys` (public keys;
//! secret keys are ignored), `params`, `fundingUtxo` and optionally `stakingTx`. It prints, as
//! JSON with the vectors' field names: the four leaf `scripts`; the `stakingOutput`,
//! `unbondingOutput` and `slashingChangeOutput` (output script, address, output key, merkle
//! root, control blocks); the `stakingTx` built from `fundingUtxo` (change back to the funding
//! script); and the `unbondingTx`, `slashStakingTxUnsigned` and `slashUnbondingTxUnsigned`
//! built on the input's own `stakingTx` when it has one, else on the one built here.

use anyhow::{anyhow, bail, Context};
use ballast_restaking::btc::params::{parse_network, parse_xonly_hex, BtcStakingParams};
use ballast_restaking::btc::scripts::{
    SlashingChangeInfo, StakingInfo, StakingScripts, TaprootOutputInfo, UnbondingInfo,
};
use ballast_restaking::btc::staking_tx::{build_staking_tx, FundingUtxo};
use ballast_restaking::btc::txs::{
    build_slashing_tx, build_unbonding_tx, decode_tx, unbonding_value, validate_staking_tx,
};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Network, OutPoint, ScriptBuf, Transaction, Txid};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;

/// `ballastd btc` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Print the scripts, taproot outputs and unsigned txs of a delegation described in a
    /// JSON file (the reference vectors' format).
    StakingScripts(StakingScriptsArgs),
    /// The staker's commands: keygen, stake, unbond, withdraw.
    #[command(flatten)]
    Staker(super::btc_stake::Cmd),
}

/// `ballastd btc staking-scripts` options.
#[derive(clap::Args, Debug)]
pub struct StakingScriptsArgs {
    /// JSON file with `network`, `keys`, `params`, `fundingUtxo` and optionally `stakingTx`.
    #[arg(long)]
    pub input: PathBuf,
}

pub fn run(c: Cmd, g: &crate::Global) -> anyhow::Result<()> {
    match c {
        Cmd::Staker(c) => super::btc_stake::run(c, g),
        Cmd::StakingScripts(a) => {
            let out = staking_scripts(&a.input)?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)
                .context("writing to stdout")?;
            Ok(())
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    network: String,
    keys: Keys,
    params: Params,
    funding_utxo: Funding,
    #[serde(default)]
    staking_tx: Option<StakingTxIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Keys {
    staker_pk: String,
    fp_pks: Vec<String>,
    covenant_pks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    covenant_quorum: u32,
    staking_time: u32,
    unbonding_time: u32,
    unbonding_fee_sat: u64,
    /// Kept as the JSON number's text (or a string): parsed as a decimal, never a float.
    slashing_rate: Box<RawValue>,
    min_slashing_tx_fee_sat: u64,
    slashing_pk_script_hex: String,
    staking_amount_sat: u64,
    fee_rate: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Funding {
    txid: String,
    vout: u32,
    value: u64,
    script_pub_key: String,
}

#[derive(Deserialize)]
struct StakingTxIn {
    hex: String,
}

fn keys(what: &'static str, hexes: &[String]) -> anyhow::Result<Vec<XOnlyPublicKey>> {
    hexes
        .iter()
        .map(|h| parse_xonly_hex(what, h).map_err(anyhow::Error::from))
        .collect()
}

fn output_json(info: &TaprootOutputInfo, network: Network) -> Value {
    let mut blocks = Map::new();
    for (leaf, _) in info.leaves() {
        let cb = info
            .control_block(leaf)
            .expect("every leaf listed by the tree has a control block");
        blocks.insert(leaf.name().to_string(), json!(hex::encode(cb.serialize())));
    }
    json!({
        "scriptPubKey": hex::encode(info.script_pubkey().as_bytes()),
        "address": info.address(network).to_string(),
        "outputKey": hex::encode(info.output_key().to_x_only_public_key().serialize()),
        "merkleRoot": hex::encode(info.merkle_root().to_byte_array()),
        "controlBlocks": blocks,
    })
}

/// Everything `staking-scripts` prints for the delegation in `path`.
pub fn staking_scripts(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let input: Input = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid staking description", path.display()))?;
    let network = parse_network(&input.network)?;
    let p = &input.params;
    let staker = parse_xonly_hex("staker", &input.keys.staker_pk)?;
    let operators = keys("operator", &input.keys.fp_pks)?;
    let rate_text = p.slashing_rate.get();
    let rate_text = rate_text
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rate_text);
    let params = BtcStakingParams {
        covenant_pks: keys("covenant", &input.keys.covenant_pks)?,
        covenant_quorum: p.covenant_quorum,
        // The description gives one staking value and time: they are the bounds.
        min_staking_value_sat: p.staking_amount_sat,
        max_staking_value_sat: p.staking_amount_sat,
        min_staking_time: p.staking_time,
        max_staking_time: p.staking_time,
        unbonding_time: p.unbonding_time,
        unbonding_fee_sat: p.unbonding_fee_sat,
        slashing_rate: rate_text.parse()?,
        min_slashing_tx_fee_sat: p.min_slashing_tx_fee_sat,
        slashing_pk_script: ScriptBuf::from_bytes(hex::decode(&p.slashing_pk_script_hex).map_err(
            |e| {
                anyhow!(
                    "invalid slashingPkScriptHex {:?}: expected hex, {e}",
                    p.slashing_pk_script_hex
                )
            },
        )?),
    };
    params.validate()?;

    let scripts = StakingScripts::new(
        &staker,
        &operators,
        &params.covenant_pks,
        params.covenant_quorum,
        p.staking_time,
        params.unbonding_time,
    )?;
    let staking = StakingInfo::from_params(
        &params,
        staker,
        &operators,
        p.staking_time,
        p.staking_amount_sat,
    )?;
    let unbonded = unbonding_value(&params, p.staking_amount_sat)?;
    let unbonding = UnbondingInfo::from_params(&params, staker, &operators, unbonded)?;
    let change = SlashingChangeInfo::from_params(&params, staker, 0)?;

    let f = &input.funding_utxo;
    let funding = FundingUtxo {
        outpoint: OutPoint::new(
            f.txid
                .parse::<Txid>()
                .map_err(|e| anyhow!("invalid fundingUtxo.txid {:?}: {e}", f.txid))?,
            f.vout,
        ),
        value_sat: f.value,
        script_pubkey: ScriptBuf::from_bytes(hex::decode(&f.script_pub_key).map_err(|e| {
            anyhow!(
                "invalid fundingUtxo.scriptPubKey {:?}: expected hex, {e}",
                f.script_pub_key
            )
        })?),
    };
    let built = build_staking_tx(
        &staking.output(),
        &funding,
        &funding.script_pubkey,
        p.fee_rate,
    )?;

    // The unbonding and slashing txs spend the input's staking tx if it has one.
    let (staking_tx, index): (Transaction, u32) = match &input.staking_tx {
        Some(s) => {
            let bytes = hex::decode(&s.hex)
                .map_err(|e| anyhow!("invalid stakingTx.hex: expected hex, {e}"))?;
            let tx = decode_tx("staking tx", &bytes)?;
            let script = staking.script_pubkey();
            let Some(i) = tx.output.iter().position(|o| o.script_pubkey == script) else {
                bail!(
                    "stakingTx has no output paying the staking script {}",
                    hex::encode(script.as_bytes())
                );
            };
            let i = u32::try_from(i).context("output index")?;
            validate_staking_tx(
                &params,
                staker,
                &operators,
                p.staking_time,
                p.staking_amount_sat,
                &tx,
                i,
            )?;
            (tx, i)
        }
        None => (built.tx.clone(), built.staking_output_index),
    };
    let staking_outpoint = OutPoint::new(staking_tx.compute_txid(), index);
    let unbonding_tx = build_unbonding_tx(
        &params,
        staker,
        &operators,
        staking_outpoint,
        p.staking_amount_sat,
    )?;
    let slash_staking = build_slashing_tx(&params, staker, staking_outpoint, p.staking_amount_sat)?;
    let slash_unbonding = build_slashing_tx(
        &params,
        staker,
        OutPoint::new(unbonding_tx.compute_txid(), 0),
        unbonded,
    )?;

    Ok(json!({
        "scripts": {
            "timelockScript": hex::encode(scripts.timelock.as_bytes()),
            "unbondingScript": hex::encode(scripts.unbonding.as_bytes()),
            "slashingScript": hex::encode(scripts.slashing.as_bytes()),
            "unbondingTimelockScript": hex::encode(scripts.unbonding_timelock.as_bytes()),
        },
        "stakingOutput": output_json(&staking, network),
        "unbondingOutput": output_json(&unbonding, network),
        "slashingChangeOutput": output_json(&change, network),
        "stakingTx": {
            "hex": serialize_hex(&built.tx),
            "txid": built.tx.compute_txid().to_string(),
            "fee": built.fee_sat,
            "stakingOutputIndex": built.staking_output_index,
        },
        "unbondingTx": {
            "hex": serialize_hex(&unbonding_tx),
            "txid": unbonding_tx.compute_txid().to_string(),
        },
        "slashStakingTxUnsigned": serialize_hex(&slash_staking),
        "slashUnbondingTxUnsigned": serialize_hex(&slash_unbonding),
    }))
}
