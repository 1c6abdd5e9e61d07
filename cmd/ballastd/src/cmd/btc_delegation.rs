//! What the staker's commands share (`tx restaking btc-delegate`, `btc stake`, `btc unbond`,
//! `btc withdraw`, `tx restaking add-inclusion-proof`): the chain's BTC staking params as the
//! library's type, reading a staking tx built by any wallet, building and pre-signing a
//! delegation request, inclusion proofs, and the staker's spends of the staking and unbonding
//! outputs. Nothing here talks to a node; the commands fetch what these functions need.

use anyhow::{anyhow, bail, Context};
use ballast_framework::Address;
use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::params::{parse_xonly, BtcStakingParams, SlashingRate};
use ballast_restaking::btc::scripts::{
    Leaf, SlashingChangeInfo, SpendSignatures, StakingInfo, TaprootOutputInfo, UnbondingInfo,
};
use ballast_restaking::btc::sign::{
    leaf_sighash_single_input, parse_schnorr_sig, sign_leaf, sign_pop, sign_sighash, verify_sighash,
};
use ballast_restaking::btc::txs::{
    build_slashing_tx, build_unbonding_tx, decode_tx, dust_limit, validate_delegation_txs,
    DelegationTxs,
};
use base64::Engine;
use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use std::str::FromStr;

/// gRPC method (and ABCI path) of the restaking params.
pub const QUERY_PARAMS: &str = "/ballast.restaking.v1.Query/Params";
/// gRPC method (and ABCI path) of one BTC delegation.
pub const QUERY_BTC_DELEGATION: &str = "/ballast.restaking.v1.Query/BtcDelegation";

/// Type URLs of the restaking messages the CLI sends.
pub mod type_url {
    /// `MsgRegisterOperator`.
    pub const REGISTER_OPERATOR: &str = "/ballast.restaking.v1.MsgRegisterOperator";
    /// `MsgEditOperator`.
    pub const EDIT_OPERATOR: &str = "/ballast.restaking.v1.MsgEditOperator";
    /// `MsgBondNative`.
    pub const BOND_NATIVE: &str = "/ballast.restaking.v1.MsgBondNative";
    /// `MsgUnbondNative`.
    pub const UNBOND_NATIVE: &str = "/ballast.restaking.v1.MsgUnbondNative";
    /// `MsgWithdrawRewards`.
    pub const WITHDRAW_REWARDS: &str = "/ballast.restaking.v1.MsgWithdrawRewards";
    /// `MsgCreateBtcDelegation`.
    pub const CREATE_BTC_DELEGATION: &str = "/ballast.restaking.v1.MsgCreateBtcDelegation";
    /// `MsgAddBtcInclusionProof`.
    pub const ADD_BTC_INCLUSION_PROOF: &str = "/ballast.restaking.v1.MsgAddBtcInclusionProof";
    /// `MsgBtcUndelegate`.
    pub const BTC_UNDELEGATE: &str = "/ballast.restaking.v1.MsgBtcUndelegate";
}

/// The first bytes of every serialized PSBT (BIP-174).
const PSBT_MAGIC: &[u8] = b"psbt\xff";

/// The chain's BTC staking params: the library's checked form, and the confirmation depth a
/// staking tx needs to make its delegation ACTIVE.
#[derive(Clone, Debug)]
pub struct ChainBtcParams {
    /// Covenant committee, quorum, bounds, unbonding time and fee, slashing rules.
    pub staking: BtcStakingParams,
    /// Depth (0 is the tip) the staking tx's block must reach in the light client.
    pub confirmation_depth: u64,
}

/// Converts the chain's `BtcStakingParams` into the library's, and checks them.
pub fn chain_btc_params(p: &pb::Params) -> anyhow::Result<ChainBtcParams> {
    let b = p
        .btc
        .as_ref()
        .context("the chain's restaking params have no btc staking params")?;
    let covenant_pks = b
        .covenant_pks
        .iter()
        .map(|k| parse_xonly("covenant", k))
        .collect::<Result<Vec<_>, _>>()
        .context("the chain's covenant committee")?;
    let staking = BtcStakingParams {
        covenant_pks,
        covenant_quorum: b.covenant_quorum,
        min_staking_value_sat: b.min_staking_value_sat,
        max_staking_value_sat: b.max_staking_value_sat,
        min_staking_time: b.min_staking_time,
        max_staking_time: b.max_staking_time,
        unbonding_time: b.unbonding_time,
        unbonding_fee_sat: b.unbonding_fee_sat,
        slashing_rate: SlashingRate::from_str(&b.slashing_rate)
            .context("the chain's slashing rate")?,
        min_slashing_tx_fee_sat: b.min_slashing_tx_fee_sat,
        slashing_pk_script: ScriptBuf::from_bytes(b.slashing_pk_script.clone()),
    };
    staking
        .validate()
        .context("the chain's btc staking params are inconsistent")?;
    Ok(ChainBtcParams {
        staking,
        confirmation_depth: b.btc_confirmation_depth,
    })
}

/// Parses a BIP-340 x-only key given as 64 hex digits (optional `0x`).
pub fn parse_xonly_arg(what: &'static str, s: &str) -> anyhow::Result<XOnlyPublicKey> {
    let t = s.trim().trim_start_matches("0x");
    let bytes = hex::decode(t).map_err(|e| {
        anyhow!("bad {what} key {s:?}: expected 64 hex digits (a BIP-340 x-only key), {e}")
    })?;
    parse_xonly(what, &bytes).map_err(|e| anyhow!("bad {what} key {s:?}: {e}"))
}

/// Parses a Bitcoin txid in display order (64 hex digits, optional `0x`).
pub fn parse_txid(s: &str) -> anyhow::Result<Txid> {
    let t = s.trim().trim_start_matches("0x");
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "bad txid {s:?}: expected 64 hex digits in Bitcoin's display order, found {} characters",
            t.len()
        );
    }
    Txid::from_str(t).map_err(|e| anyhow!("bad txid {s:?}: {e}"))
}

/// Reads a staking tx argument: raw tx hex, PSBT hex, PSBT base64, or `@file` holding any of
/// those (or a binary PSBT). A PSBT gives its signed tx when every input is finalized, else
/// its unsigned tx: either has the same txid, which is what identifies the delegation.
pub fn read_staking_tx(arg: &str) -> anyhow::Result<Transaction> {
    let (text, from) = match arg.strip_prefix('@') {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the staking tx from {path}"))?;
            if bytes.starts_with(PSBT_MAGIC) {
                return psbt_tx(&bytes);
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow!("{path} is neither text (hex or base64) nor a binary psbt"))?;
            (text, format!("the staking tx in {path}"))
        }
        None => (arg.to_string(), "the staking tx".to_string()),
    };
    let t: String = text.split_whitespace().collect();
    let t = t.trim_start_matches("0x");
    if t.is_empty() {
        bail!("{from} is empty: expected a raw tx in hex or a psbt in hex or base64");
    }
    if t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes = hex::decode(t).with_context(|| format!("{from} is not hex"))?;
        if bytes.starts_with(PSBT_MAGIC) {
            return psbt_tx(&bytes);
        }
        return decode_tx("staking tx", &bytes)
            .with_context(|| format!("{from} is hex but not a bitcoin transaction"));
    }
    match base64::engine::general_purpose::STANDARD.decode(t) {
        Ok(bytes) if bytes.starts_with(PSBT_MAGIC) => psbt_tx(&bytes),
        Ok(_) => bail!("{from} is base64 but not a psbt (it does not start with \"psbt\\xff\")"),
        Err(_) => bail!(
            "{from} is neither hex (a raw tx or a psbt) nor base64 (a psbt): found {:?}…",
            t.chars().take(16).collect::<String>()
        ),
    }
}

fn psbt_tx(bytes: &[u8]) -> anyhow::Result<Transaction> {
    let psbt = Psbt::deserialize(bytes).map_err(|e| anyhow!("the psbt does not parse: {e}"))?;
    let finalized = !psbt.inputs.is_empty()
        && psbt
            .inputs
            .iter()
            .all(|i| i.final_script_witness.is_some() || i.final_script_sig.is_some());
    Ok(if finalized {
        psbt.extract_tx_unchecked_fee_rate()
    } else {
        psbt.unsigned_tx
    })
}

/// What a delegation request is built from.
#[derive(Clone, Copy, Debug)]
pub struct DelegationInput<'a> {
    /// The chain's params.
    pub params: &'a BtcStakingParams,
    /// The staker's BTC secret key.
    pub staker_sk: &'a SecretKey,
    /// The Ballast account that sends the request and receives the rewards.
    pub staker_addr: &'a Address,
    /// The operator delegated to.
    pub operator_pk: XOnlyPublicKey,
    /// Staking timelock, blocks.
    pub staking_time: u32,
    /// The staking tx, from any wallet.
    pub staking_tx: &'a Transaction,
    /// The staking output's index, when the caller knows it (else it is searched for).
    pub staking_output_index: Option<u32>,
}

/// A delegation request ready to send.
#[derive(Clone, Debug)]
pub struct BuiltDelegation {
    /// The message, with the staker's signatures and proof of possession.
    pub msg: pb::MsgCreateBtcDelegation,
    /// The staking txid (the delegation's id).
    pub staking_txid: Txid,
    /// Index of the staking output.
    pub staking_output_index: u32,
    /// Its value.
    pub staking_value_sat: u64,
}

/// Finds the staking output of `info` in `tx` (any value: the script does not depend on it),
/// or checks the one at `index`. Refuses a tx with no such output, and one with several
/// unless the index is given.
pub fn find_staking_output(
    info: &StakingInfo,
    staking_time: u32,
    tx: &Transaction,
    index: Option<u32>,
) -> anyhow::Result<u32> {
    let expected = info.script_pubkey();
    if let Some(i) = index {
        let out = usize::try_from(i)
            .ok()
            .and_then(|u| tx.output.get(u))
            .ok_or_else(|| {
                anyhow!(
                    "--staking-output-index {i} is out of range: the staking tx has {} outputs",
                    tx.output.len()
                )
            })?;
        if out.script_pubkey != expected {
            bail!(
                "output {i} of the staking tx does not pay the staking output of these keys and \
                 staking time: expected script {}, found {}",
                hex::encode(expected.as_bytes()),
                hex::encode(out.script_pubkey.as_bytes())
            );
        }
        return Ok(i);
    }
    let found: Vec<usize> = tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.script_pubkey == expected)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [i] => Ok(u32::try_from(*i).context("the staking output index does not fit 32 bits")?),
        [] => bail!(
            "no output of the staking tx pays the staking output of staker {}, operator {} and \
             staking time {} under the chain's covenant committee: expected script {}, found \
             outputs [{}] (wrong --btc-key, --operator or --staking-time?)",
            info.staker_pk(),
            info.operator_pks()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            staking_time,
            hex::encode(expected.as_bytes()),
            tx.output
                .iter()
                .map(|o| hex::encode(o.script_pubkey.as_bytes()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => bail!(
            "outputs {many:?} of the staking tx all pay the staking output: pass \
             --staking-output-index to choose one"
        ),
    }
}

/// Builds a delegation request for a staking tx made by any wallet: finds and checks the
/// staking output (rebuilt from the keys and the chain's params), builds the unbonding tx and
/// both slashing txs, signs the slashing txs through the slashing leaf, and proves possession
/// of the staker's key for the Ballast account.
pub fn build_delegation(d: &DelegationInput<'_>) -> anyhow::Result<BuiltDelegation> {
    let params = d.params;
    let staker_pk = d.staker_sk.x_only_public_key(SECP256K1).0;
    let operators = [d.operator_pk];
    params.check_staking_time(d.staking_time)?;
    let probe = StakingInfo::from_params(params, staker_pk, &operators, d.staking_time, 0)?;
    let index = find_staking_output(&probe, d.staking_time, d.staking_tx, d.staking_output_index)?;
    let value = d.staking_tx.output[usize::try_from(index).context("index fits usize")?]
        .value
        .to_sat();
    params.check_staking_value(value)?;
    let staking_txid = d.staking_tx.compute_txid();
    let staking_outpoint = OutPoint::new(staking_txid, index);
    let unbonding_tx = build_unbonding_tx(params, staker_pk, &operators, staking_outpoint, value)?;
    let slashing_tx = build_slashing_tx(params, staker_pk, staking_outpoint, value)?;
    let unbonding_value = unbonding_tx.output[0].value.to_sat();
    let unbonding_slashing_tx = build_slashing_tx(
        params,
        staker_pk,
        OutPoint::new(unbonding_tx.compute_txid(), 0),
        unbonding_value,
    )?;
    // The same checks the chain runs, so a request it would refuse is never sent.
    let checked = validate_delegation_txs(
        params,
        &DelegationTxs {
            staker_pk,
            operator_pks: &operators,
            staking_time: d.staking_time,
            staking_value_sat: value,
            staking_tx: d.staking_tx,
            staking_output_index: index,
            slashing_tx: &slashing_tx,
            unbonding_tx: &unbonding_tx,
            unbonding_slashing_tx: &unbonding_slashing_tx,
        },
    )?;
    let slashing_sig = sign_leaf(
        d.staker_sk,
        &slashing_tx,
        0,
        &[checked.staking.output()],
        checked.staking.leaf(Leaf::Slashing)?,
    )?;
    let unbonding_slashing_sig = sign_leaf(
        d.staker_sk,
        &unbonding_slashing_tx,
        0,
        &[checked.unbonding.output()],
        checked.unbonding.leaf(Leaf::Slashing)?,
    )?;
    let msg = pb::MsgCreateBtcDelegation {
        staker_addr: d.staker_addr.to_string(),
        btc_pk: staker_pk.serialize().to_vec(),
        pop: sign_pop(d.staker_sk, &d.staker_addr.0).as_ref().to_vec(),
        operator_btc_pk: d.operator_pk.serialize().to_vec(),
        staking_time: d.staking_time,
        staking_value: value,
        staking_tx: serialize(d.staking_tx),
        staking_output_index: index,
        slashing_tx: serialize(&slashing_tx),
        delegator_slashing_sig: slashing_sig.as_ref().to_vec(),
        unbonding_tx: serialize(&unbonding_tx),
        unbonding_slashing_tx: serialize(&unbonding_slashing_tx),
        delegator_unbonding_slashing_sig: unbonding_slashing_sig.as_ref().to_vec(),
        inclusion_proof: None,
    };
    Ok(BuiltDelegation {
        msg,
        staking_txid,
        staking_output_index: index,
        staking_value_sat: value,
    })
}

/// The proof that `txid` is in `block`: its index, its Merkle branch (leaf level first,
/// internal byte order) and the block hash (internal byte order).
pub fn inclusion_proof(block: &Block, txid: Txid) -> anyhow::Result<pb::BtcInclusionProof> {
    let txids: Vec<Txid> = block.txdata.iter().map(Transaction::compute_txid).collect();
    let index = txids.iter().position(|t| *t == txid).ok_or_else(|| {
        anyhow!(
            "tx {txid} is not in block {} ({} txs)",
            block.block_hash(),
            txids.len()
        )
    })?;
    let branch = ballast_vigilante::scan::merkle_branch(&txids, index);
    Ok(pb::BtcInclusionProof {
        tx_index: u32::try_from(index).context("a block's tx index fits 32 bits")?,
        merkle_nodes: branch.iter().flat_map(|n| n.to_byte_array()).collect(),
        block_hash: block.block_hash().to_byte_array().to_vec(),
    })
}

/// A stored delegation's keys and outputs, rebuilt from what the chain keeps.
#[derive(Clone, Debug)]
pub struct DelegationOutputs {
    /// The staker's key.
    pub staker_pk: XOnlyPublicKey,
    /// The staking output.
    pub staking: StakingInfo,
    /// The staking outpoint.
    pub staking_outpoint: OutPoint,
    /// The unsigned unbonding tx the covenant committee signed.
    pub unbonding_tx: Transaction,
    /// The unbonding output.
    pub unbonding: UnbondingInfo,
    /// The slashing txs (of the staking output, then of the unbonding output).
    pub slashing_txs: [Transaction; 2],
    /// The staking time.
    pub staking_time: u32,
    /// The unbonding time the delegation was created under.
    pub unbonding_time: u32,
}

/// Rebuilds a delegation's outputs from the chain's record, and checks that `sk` is its
/// staker's key.
pub fn delegation_outputs(
    del: &pb::BtcDelegation,
    sk: &SecretKey,
) -> anyhow::Result<DelegationOutputs> {
    let staker_pk = parse_xonly("staker", &del.btc_pk).context("the delegation's staker key")?;
    let mine = sk.x_only_public_key(SECP256K1).0;
    if mine != staker_pk {
        bail!(
            "the btc key file holds key {mine}, but delegation {} was made by staker key \
             {staker_pk}: expected that staker's key file",
            del.staking_txid
        );
    }
    let operator =
        parse_xonly("operator", &del.operator_btc_pk).context("the delegation's operator key")?;
    let covenants = del
        .covenant_pks
        .iter()
        .map(|k| parse_xonly("covenant", k))
        .collect::<Result<Vec<_>, _>>()
        .context("the delegation's covenant committee")?;
    let staking = StakingInfo::new(
        staker_pk,
        &[operator],
        &covenants,
        del.covenant_quorum,
        del.staking_time,
        del.staking_value,
    )?;
    let staking_tx = decode_tx("staking tx", &del.staking_tx)?;
    let staking_outpoint = OutPoint::new(staking_tx.compute_txid(), del.staking_output_index);
    let unbonding_tx = decode_tx("unbonding tx", &del.unbonding_tx)?;
    let unbonding_value = unbonding_tx
        .output
        .first()
        .context("the delegation's unbonding tx has no output")?
        .value
        .to_sat();
    let unbonding = UnbondingInfo::new(
        staker_pk,
        &[operator],
        &covenants,
        del.covenant_quorum,
        del.unbonding_time,
        unbonding_value,
    )?;
    if unbonding.script_pubkey() != unbonding_tx.output[0].script_pubkey {
        bail!(
            "the delegation's unbonding tx does not pay the unbonding output rebuilt from its keys \
             and unbonding time {}",
            del.unbonding_time
        );
    }
    let slashing_txs = [
        decode_tx("slashing tx", &del.slashing_tx)?,
        decode_tx("unbonding slashing tx", &del.unbonding_slashing_tx)?,
    ];
    Ok(DelegationOutputs {
        staker_pk,
        staking,
        staking_outpoint,
        unbonding_tx,
        unbonding,
        slashing_txs,
        staking_time: del.staking_time,
        unbonding_time: del.unbonding_time,
    })
}

/// The delegation's unbonding tx with its complete witness: the staker's signature, the
/// covenant signatures gathered on chain (those that verify, in the order the multisig
/// checks them, empty for members that did not sign), the unbonding leaf and its control
/// block. Fails when fewer than the quorum of covenant signatures verify.
pub fn signed_unbonding_tx(del: &pb::BtcDelegation, sk: &SecretKey) -> anyhow::Result<Transaction> {
    let outs = delegation_outputs(del, sk)?;
    let leaf = outs.staking.leaf(Leaf::Unbonding)?;
    let sighash = leaf_sighash_single_input(&outs.unbonding_tx, &outs.staking.output(), leaf)?;
    let mut covenants = Vec::new();
    for cs in &del.covenant_sigs {
        let Ok(pk) = parse_xonly("covenant", &cs.covenant_pk) else {
            continue;
        };
        if verify_sighash(&pk, &cs.unbonding_sig, &sighash).is_ok() {
            covenants.push((pk, parse_schnorr_sig(&cs.unbonding_sig)?));
        }
    }
    let quorum = usize::try_from(del.covenant_quorum).context("the quorum fits usize")?;
    if covenants.len() < quorum {
        bail!(
            "delegation {} has {} valid covenant signatures on its unbonding tx, the quorum is {} \
             (status {}): wait until the covenant committee has signed",
            del.staking_txid,
            covenants.len(),
            quorum,
            status_name(del.status)
        );
    }
    let sigs = SpendSignatures {
        staker: Some(sign_sighash(sk, &sighash)),
        operators: Vec::new(),
        covenants,
    };
    let mut tx = outs.unbonding_tx.clone();
    tx.input[0].witness = outs.staking.witness(Leaf::Unbonding, &sigs)?;
    Ok(tx)
}

/// A delegation status by name (`PENDING`); an unknown number as itself.
pub fn status_name(s: i32) -> String {
    match pb::BtcDelegationStatus::try_from(s) {
        Ok(st) => st
            .as_str_name()
            .trim_start_matches("BTC_DELEGATION_STATUS_")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// An output the staker can take back alone once its timelock has passed.
#[derive(Clone, Debug)]
pub struct TimelockedOutput {
    /// Which output it is, for messages.
    pub what: &'static str,
    /// The output.
    pub outpoint: OutPoint,
    /// Its value and script.
    pub txout: TxOut,
    /// The tree it is in, and the timelock leaf that spends it.
    pub info: TaprootOutputInfo,
    /// The timelock leaf.
    pub leaf: Leaf,
    /// Its relative timelock, blocks.
    pub lock_blocks: u32,
}

/// The outputs of a delegation the staker may withdraw through a timelock leaf, in the order
/// to try them: the staking output (after the staking time), the unbonding output (after the
/// unbonding time), and the change outputs of the two slashing txs (after the unbonding time).
pub fn timelocked_outputs(outs: &DelegationOutputs) -> anyhow::Result<Vec<TimelockedOutput>> {
    let mut v = vec![
        TimelockedOutput {
            what: "staking output",
            outpoint: outs.staking_outpoint,
            txout: outs.staking.output(),
            info: (*outs.staking).clone(),
            leaf: Leaf::Timelock,
            lock_blocks: outs.staking_time,
        },
        TimelockedOutput {
            what: "unbonding output",
            outpoint: OutPoint::new(outs.unbonding_tx.compute_txid(), 0),
            txout: outs.unbonding.output(),
            info: (*outs.unbonding).clone(),
            leaf: Leaf::UnbondingTimelock,
            lock_blocks: outs.unbonding_time,
        },
    ];
    for (what, tx) in [
        (
            "change of the staking output's slashing tx",
            &outs.slashing_txs[0],
        ),
        (
            "change of the unbonding output's slashing tx",
            &outs.slashing_txs[1],
        ),
    ] {
        let change = tx
            .output
            .get(1)
            .with_context(|| format!("the {what} is missing"))?;
        let info =
            SlashingChangeInfo::new(outs.staker_pk, outs.unbonding_time, change.value.to_sat())?;
        v.push(TimelockedOutput {
            what,
            outpoint: OutPoint::new(tx.compute_txid(), 1),
            txout: change.clone(),
            info: (*info).clone(),
            leaf: Leaf::UnbondingTimelock,
            lock_blocks: outs.unbonding_time,
        });
    }
    Ok(v)
}

/// Spends `out` through its timelock leaf to `to`, paying `fee_rate_sat_vb`: version 2, one
/// input with the relative timelock as its nSequence, one output. Fails when the rest would
/// be dust.
pub fn withdrawal_tx(
    out: &TimelockedOutput,
    sk: &SecretKey,
    to: ScriptBuf,
    fee_rate_sat_vb: u64,
) -> anyhow::Result<Transaction> {
    let blocks = u16::try_from(out.lock_blocks).map_err(|_| {
        anyhow!(
            "the {}'s timelock is {} blocks: more than a relative timelock can hold (65535)",
            out.what,
            out.lock_blocks
        )
    })?;
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: out.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::from_height(blocks),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: out.txout.value,
            script_pubkey: to,
        }],
    };
    // Size with a witness of the final shape (a 64-byte signature, the leaf, its control
    // block), so the fee is right before signing.
    let dummy = SpendSignatures {
        staker: Some(bitcoin::secp256k1::schnorr::Signature::from_slice(
            &[1u8; 64],
        )?),
        ..SpendSignatures::default()
    };
    tx.input[0].witness = out.info.witness(out.leaf, &dummy)?;
    let vsize = u64::try_from(tx.vsize()).context("a tx size fits 64 bits")?;
    let fee = vsize
        .checked_mul(fee_rate_sat_vb)
        .context("the fee overflows")?;
    let value = out.txout.value.to_sat();
    let rest = value.saturating_sub(fee);
    let min = dust_limit(&tx.output[0].script_pubkey);
    if rest < min {
        bail!(
            "the {} holds {value} sat: after a fee of {fee} sat ({vsize} vB at {fee_rate_sat_vb} \
             sat/vB) the rest, {rest} sat, is below the dust limit of {min} sat",
            out.what
        );
    }
    tx.output[0].value = Amount::from_sat(rest);
    let leaf = out.info.leaf(out.leaf)?;
    let sighash = leaf_sighash_single_input(&tx, &out.txout, leaf)?;
    let sigs = SpendSignatures {
        staker: Some(sign_sighash(sk, &sighash)),
        ..SpendSignatures::default()
    };
    tx.input[0].witness = out.info.witness(out.leaf, &sigs)?;
    Ok(tx)
}

/// How many more blocks a timelocked output needs before a tx spending it can be mined: a
/// spend of an output with `confirmations` (1 = in the tip) may go in the next block once
/// `confirmations >= lock_blocks` (BIP-68).
pub fn blocks_remaining(confirmations: u64, lock_blocks: u32) -> u64 {
    u64::from(lock_blocks).saturating_sub(confirmations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_restaking::btc::scripts::unspendable_key;
    use ballast_restaking::btc::sign::{verify_leaf_sig, verify_pop};

    fn sk(i: u8) -> SecretKey {
        SecretKey::from_slice(&[i; 32]).unwrap()
    }

    fn pk(i: u8) -> XOnlyPublicKey {
        sk(i).x_only_public_key(SECP256K1).0
    }

    fn params() -> BtcStakingParams {
        BtcStakingParams {
            covenant_pks: vec![pk(11), pk(12), pk(13)],
            covenant_quorum: 2,
            min_staking_value_sat: 10_000,
            max_staking_value_sat: 1_000_000_000,
            min_staking_time: 400,
            max_staking_time: 65_535,
            unbonding_time: 200,
            unbonding_fee_sat: 1_000,
            slashing_rate: SlashingRate::from_str("0.1").unwrap(),
            min_slashing_tx_fee_sat: 1_000,
            slashing_pk_script: ScriptBuf::new_op_return(b"ballast-burn"),
        }
    }

    /// A staking tx as another wallet would make it: a funding input, change first, then the
    /// staking output.
    fn wallet_tx(staking: &StakingInfo) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 3),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[vec![9u8; 64]]),
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(123_456),
                    script_pubkey: ScriptBuf::new_p2tr(SECP256K1, unspendable_key(), None),
                },
                staking.output(),
            ],
        }
    }

    fn addr() -> Address {
        Address([5; 20])
    }

    #[test]
    fn a_wallets_staking_tx_becomes_a_request_the_chain_accepts() {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 50_000).unwrap();
        let tx = wallet_tx(&staking);
        let a = addr();
        let built = build_delegation(&DelegationInput {
            params: &p,
            staker_sk: &sk(1),
            staker_addr: &a,
            operator_pk: pk(2),
            staking_time: 1000,
            staking_tx: &tx,
            staking_output_index: None,
        })
        .unwrap();
        assert_eq!(built.staking_output_index, 1);
        assert_eq!(built.staking_value_sat, 50_000);
        assert_eq!(built.staking_txid, tx.compute_txid());
        let m = &built.msg;
        assert_eq!(m.staker_addr, a.to_string());
        assert_eq!(m.btc_pk, pk(1).serialize().to_vec());
        assert_eq!(m.operator_btc_pk, pk(2).serialize().to_vec());
        verify_pop(&pk(1), &a.0, &m.pop).unwrap();
        let slashing = decode_tx("s", &m.slashing_tx).unwrap();
        let unbonding = decode_tx("u", &m.unbonding_tx).unwrap();
        let unbonding_slashing = decode_tx("us", &m.unbonding_slashing_tx).unwrap();
        let checked = validate_delegation_txs(
            &p,
            &DelegationTxs {
                staker_pk: pk(1),
                operator_pks: &[pk(2)],
                staking_time: 1000,
                staking_value_sat: 50_000,
                staking_tx: &decode_tx("st", &m.staking_tx).unwrap(),
                staking_output_index: 1,
                slashing_tx: &slashing,
                unbonding_tx: &unbonding,
                unbonding_slashing_tx: &unbonding_slashing,
            },
        )
        .unwrap();
        verify_leaf_sig(
            &pk(1),
            &m.delegator_slashing_sig,
            &slashing,
            0,
            &[checked.staking.output()],
            checked.staking.leaf(Leaf::Slashing).unwrap(),
        )
        .unwrap();
        verify_leaf_sig(
            &pk(1),
            &m.delegator_unbonding_slashing_sig,
            &unbonding_slashing,
            0,
            &[checked.unbonding.output()],
            checked.unbonding.leaf(Leaf::Slashing).unwrap(),
        )
        .unwrap();
        // The slashing signature does not verify for the other slashing tx.
        assert!(verify_leaf_sig(
            &pk(1),
            &m.delegator_slashing_sig,
            &unbonding_slashing,
            0,
            &[checked.unbonding.output()],
            checked.unbonding.leaf(Leaf::Slashing).unwrap(),
        )
        .is_err());
    }

    #[test]
    fn a_staking_tx_for_other_keys_or_times_is_refused_with_the_expected_script() {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 50_000).unwrap();
        let tx = wallet_tx(&staking);
        let a = addr();
        let input = |sk: &SecretKey, op: u8, time: u32, index: Option<u32>| {
            build_delegation(&DelegationInput {
                params: &p,
                staker_sk: sk,
                staker_addr: &a,
                operator_pk: pk(op),
                staking_time: time,
                staking_tx: &tx,
                staking_output_index: index,
            })
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        let wrong_key = input(&sk(3), 2, 1000, None);
        assert!(
            wrong_key.contains("no output of the staking tx"),
            "{wrong_key}"
        );
        assert!(wrong_key.contains(&pk(3).to_string()), "{wrong_key}");
        let wrong_op = input(&sk(1), 4, 1000, None);
        assert!(wrong_op.contains("no output"), "{wrong_op}");
        let wrong_time = input(&sk(1), 2, 1001, None);
        assert!(wrong_time.contains("staking time 1001"), "{wrong_time}");
        let wrong_index = input(&sk(1), 2, 1000, Some(0));
        assert!(wrong_index.contains("output 0"), "{wrong_index}");
        let out_of_range = input(&sk(1), 2, 1000, Some(2));
        assert!(out_of_range.contains("out of range"), "{out_of_range}");
        let too_short = input(&sk(1), 2, 10, None);
        assert!(too_short.contains("10"), "{too_short}");
    }

    #[test]
    fn a_staking_value_out_of_bounds_is_refused() {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 5_000).unwrap();
        let tx = wallet_tx(&staking);
        let e = build_delegation(&DelegationInput {
            params: &p,
            staker_sk: &sk(1),
            staker_addr: &addr(),
            operator_pk: pk(2),
            staking_time: 1000,
            staking_tx: &tx,
            staking_output_index: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("5000"), "{e}");
    }

    #[test]
    fn staking_txs_read_from_hex_psbt_hex_psbt_base64_and_files() {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 50_000).unwrap();
        let tx = wallet_tx(&staking);
        let raw = bitcoin::consensus::encode::serialize_hex(&tx);
        assert_eq!(read_staking_tx(&raw).unwrap(), tx);
        assert_eq!(read_staking_tx(&format!("0x{raw}\n")).unwrap(), tx);

        let mut unsigned = tx.clone();
        unsigned.input[0].witness = Witness::new();
        let mut psbt = Psbt::from_unsigned_tx(unsigned.clone()).unwrap();
        let b = psbt.serialize();
        let got = read_staking_tx(&hex::encode(&b)).unwrap();
        assert_eq!(got, unsigned);
        assert_eq!(got.compute_txid(), tx.compute_txid());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&b);
        assert_eq!(read_staking_tx(&b64).unwrap(), unsigned);
        // Finalized: the signed tx.
        psbt.inputs[0].final_script_witness = Some(tx.input[0].witness.clone());
        let signed =
            read_staking_tx(&base64::engine::general_purpose::STANDARD.encode(psbt.serialize()))
                .unwrap();
        assert_eq!(signed, tx);

        let dir = tempdir();
        let bin = dir.join("tx.psbt");
        std::fs::write(&bin, psbt.serialize()).unwrap();
        assert_eq!(read_staking_tx(&format!("@{}", bin.display())).unwrap(), tx);
        let txt = dir.join("tx.hex");
        std::fs::write(&txt, format!("{raw}\n")).unwrap();
        assert_eq!(read_staking_tx(&format!("@{}", txt.display())).unwrap(), tx);

        let e = read_staking_tx("zz-not-a-tx").unwrap_err().to_string();
        assert!(e.contains("neither hex"), "{e}");
        let e = format!("{:#}", read_staking_tx("0011").unwrap_err());
        assert!(e.contains("not a bitcoin transaction"), "{e}");
        let e = read_staking_tx("aGVsbG8gd29ybGQ=").unwrap_err().to_string();
        assert!(e.contains("not a psbt"), "{e}");
        let e = format!("{:#}", read_staking_tx("@/nonexistent/x").unwrap_err());
        assert!(e.contains("cannot read"), "{e}");
        let e = read_staking_tx("").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ballastd-btc-delegation-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn inclusion_proofs_hash_up_to_the_merkle_root() {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 50_000).unwrap();
        for n in 1..6usize {
            let txdata: Vec<Transaction> = (0..n)
                .map(|i| {
                    let mut t = wallet_tx(&staking);
                    t.input[0].previous_output.vout = u32::try_from(i).unwrap();
                    t
                })
                .collect();
            let mut block = Block {
                header: bitcoin::block::Header {
                    version: bitcoin::block::Version::TWO,
                    prev_blockhash: bitcoin::BlockHash::all_zeros(),
                    merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                    time: 0,
                    bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
                    nonce: 0,
                },
                txdata,
            };
            block.header.merkle_root = block.compute_merkle_root().unwrap();
            for (i, t) in block.txdata.iter().enumerate() {
                let proof = inclusion_proof(&block, t.compute_txid()).unwrap();
                assert_eq!(proof.tx_index as usize, i);
                assert_eq!(
                    proof.block_hash,
                    block.block_hash().to_byte_array().to_vec()
                );
                // Hash the leaf up with the branch.
                let mut h = t.compute_txid().to_byte_array();
                let mut pos = i;
                for sib in proof.merkle_nodes.chunks(32) {
                    let mut e = bitcoin::hashes::sha256d::Hash::engine();
                    use bitcoin::hashes::HashEngine;
                    if pos % 2 == 1 {
                        e.input(sib);
                        e.input(&h);
                    } else {
                        e.input(&h);
                        e.input(sib);
                    }
                    h = bitcoin::hashes::sha256d::Hash::from_engine(e).to_byte_array();
                    pos /= 2;
                }
                assert_eq!(h, block.header.merkle_root.to_byte_array(), "n={n} i={i}");
            }
            let e = inclusion_proof(&block, Txid::from_byte_array([0; 32]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not in block"), "{e}");
        }
    }

    /// A chain record of a delegation built by [`build_delegation`], with covenant signatures
    /// by `signers` (indexes into the committee 11, 12, 13).
    fn stored(signers: &[u8]) -> pb::BtcDelegation {
        let p = params();
        let staking = StakingInfo::from_params(&p, pk(1), &[pk(2)], 1000, 50_000).unwrap();
        let tx = wallet_tx(&staking);
        let built = build_delegation(&DelegationInput {
            params: &p,
            staker_sk: &sk(1),
            staker_addr: &addr(),
            operator_pk: pk(2),
            staking_time: 1000,
            staking_tx: &tx,
            staking_output_index: None,
        })
        .unwrap();
        let m = built.msg;
        let unbonding = decode_tx("u", &m.unbonding_tx).unwrap();
        let covenant_sigs = signers
            .iter()
            .map(|i| pb::CovenantSignatures {
                covenant_pk: pk(*i).serialize().to_vec(),
                unbonding_sig: sign_leaf(
                    &sk(*i),
                    &unbonding,
                    0,
                    &[staking.output()],
                    staking.leaf(Leaf::Unbonding).unwrap(),
                )
                .unwrap()
                .as_ref()
                .to_vec(),
                ..Default::default()
            })
            .collect();
        pb::BtcDelegation {
            staker_addr: m.staker_addr,
            btc_pk: m.btc_pk,
            operator_btc_pk: m.operator_btc_pk,
            staking_time: m.staking_time,
            staking_value: m.staking_value,
            staking_tx: m.staking_tx,
            staking_output_index: m.staking_output_index,
            slashing_tx: m.slashing_tx,
            unbonding_tx: m.unbonding_tx,
            unbonding_slashing_tx: m.unbonding_slashing_tx,
            covenant_sigs,
            status: pb::BtcDelegationStatus::Verified as i32,
            covenant_pks: p
                .covenant_pks
                .iter()
                .map(|k| k.serialize().to_vec())
                .collect(),
            covenant_quorum: p.covenant_quorum,
            unbonding_time: p.unbonding_time,
            staking_txid: built.staking_txid.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn the_unbonding_witness_holds_the_staker_and_quorum_signatures_in_multisig_order() {
        // Members 11 and 13 signed; 12 did not.
        let del = stored(&[13, 11]);
        let tx = signed_unbonding_tx(&del, &sk(1)).unwrap();
        let outs = delegation_outputs(&del, &sk(1)).unwrap();
        let w: Vec<&[u8]> = tx.input[0].witness.iter().collect();
        // Covenant sigs (reverse sorted key order), staker sig, leaf, control block.
        assert_eq!(w.len(), 3 + 1 + 2);
        let leaf = outs.staking.leaf(Leaf::Unbonding).unwrap();
        assert_eq!(w[4], leaf.as_bytes());
        assert_eq!(
            w[5],
            outs.staking
                .control_block(Leaf::Unbonding)
                .unwrap()
                .serialize()
                .as_slice()
        );
        let mut sorted = [pk(11), pk(12), pk(13)];
        sorted.sort_by_key(XOnlyPublicKey::serialize);
        sorted.reverse();
        let mut unsigned = tx.clone();
        unsigned.input[0].witness = Witness::new();
        let sighash = leaf_sighash_single_input(&unsigned, &outs.staking.output(), leaf).unwrap();
        for (k, el) in sorted.iter().zip(&w[..3]) {
            if *k == pk(12) {
                assert!(el.is_empty());
            } else {
                verify_sighash(k, el, &sighash).unwrap();
            }
        }
        verify_sighash(&pk(1), w[3], &sighash).unwrap();
        // The txid is the one the covenant committee signed.
        assert_eq!(
            tx.compute_txid(),
            decode_tx("u", &del.unbonding_tx).unwrap().compute_txid()
        );
    }

    #[test]
    fn unbonding_needs_the_quorum_and_the_stakers_key() {
        let e = signed_unbonding_tx(&stored(&[12]), &sk(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 valid covenant signatures"), "{e}");
        assert!(e.contains("quorum is 2"), "{e}");
        // A bad signature does not count.
        let mut del = stored(&[11, 12]);
        del.covenant_sigs[0].unbonding_sig[0] ^= 1;
        assert!(signed_unbonding_tx(&del, &sk(1)).is_err());
        let e = signed_unbonding_tx(&stored(&[11, 12]), &sk(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected that staker's key file"), "{e}");
    }

    #[test]
    fn withdrawals_spend_the_timelock_leaf_with_its_sequence() {
        let del = stored(&[11, 12]);
        let outs = delegation_outputs(&del, &sk(1)).unwrap();
        let all = timelocked_outputs(&outs).unwrap();
        assert_eq!(
            all.iter()
                .map(|o| (o.leaf, o.lock_blocks))
                .collect::<Vec<_>>(),
            vec![
                (Leaf::Timelock, 1000),
                (Leaf::UnbondingTimelock, 200),
                (Leaf::UnbondingTimelock, 200),
                (Leaf::UnbondingTimelock, 200),
            ]
        );
        for o in &all {
            assert_eq!(o.info.script_pubkey(), o.txout.script_pubkey, "{}", o.what);
        }
        let to = ScriptBuf::new_p2tr(SECP256K1, pk(9), None);
        for o in &all {
            let tx = withdrawal_tx(o, &sk(1), to.clone(), 2).unwrap();
            assert_eq!(
                tx.input[0].sequence,
                Sequence::from_height(o.lock_blocks as u16)
            );
            assert_eq!(tx.input[0].previous_output, o.outpoint);
            let fee = o.txout.value.to_sat() - tx.output[0].value.to_sat();
            assert_eq!(fee, 2 * tx.vsize() as u64, "{}", o.what);
            let w: Vec<&[u8]> = tx.input[0].witness.iter().collect();
            assert_eq!(w.len(), 3);
            let leaf = o.info.leaf(o.leaf).unwrap();
            assert_eq!(w[1], leaf.as_bytes());
            let sighash = leaf_sighash_single_input(&tx, &o.txout, leaf).unwrap();
            verify_sighash(&pk(1), w[0], &sighash).unwrap();
        }
        let e = withdrawal_tx(&all[0], &sk(1), to, 1_000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below the dust limit"), "{e}");
        assert_eq!(blocks_remaining(3, 10), 7);
        assert_eq!(blocks_remaining(10, 10), 0);
        assert_eq!(blocks_remaining(11, 10), 0);
    }

    #[test]
    fn chain_params_convert_and_bad_ones_are_refused() {
        let p = params();
        let proto = pb::Params {
            btc: Some(pb::BtcStakingParams {
                covenant_pks: p
                    .covenant_pks
                    .iter()
                    .map(|k| k.serialize().to_vec())
                    .collect(),
                covenant_quorum: 2,
                min_staking_value_sat: 10_000,
                max_staking_value_sat: 1_000_000_000,
                min_staking_time: 400,
                max_staking_time: 65_535,
                unbonding_time: 200,
                unbonding_fee_sat: 1_000,
                slashing_rate: "0.1".into(),
                min_slashing_tx_fee_sat: 1_000,
                slashing_pk_script: p.slashing_pk_script.to_bytes(),
                btc_confirmation_depth: 6,
            }),
            ..Default::default()
        };
        let c = chain_btc_params(&proto).unwrap();
        assert_eq!(c.staking, p);
        assert_eq!(c.confirmation_depth, 6);
        let mut bad = proto.clone();
        bad.btc.as_mut().unwrap().covenant_quorum = 4;
        assert!(chain_btc_params(&bad).is_err());
        assert!(chain_btc_params(&pb::Params::default()).is_err());
    }

    #[test]
    fn keys_and_txids_parse_with_clear_errors() {
        let k = pk(1).to_string();
        assert_eq!(parse_xonly_arg("operator", &k).unwrap(), pk(1));
        assert_eq!(
            parse_xonly_arg("operator", &format!("0x{k}")).unwrap(),
            pk(1)
        );
        let e = parse_xonly_arg("operator", "abc").unwrap_err().to_string();
        assert!(e.contains("bad operator key"), "{e}");
        let e = parse_xonly_arg("operator", &"00".repeat(31))
            .unwrap_err()
            .to_string();
        assert!(e.contains("32"), "{e}");
        let t = Txid::from_byte_array([3; 32]);
        assert_eq!(parse_txid(&t.to_string()).unwrap(), t);
        assert!(parse_txid("xyz").is_err());
        assert_eq!(
            status_name(pb::BtcDelegationStatus::Pending as i32),
            "PENDING"
        );
        assert_eq!(status_name(77), "77");
    }
}
