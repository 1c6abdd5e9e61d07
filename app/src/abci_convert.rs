//! Conversions between ABCI protobuf types and Ballast's domain types.

use crate::app::AppError;
use crate::hooks::ExtendedVote;
use crate::tx::TxOutcome;
use ballast_framework::{
    BlockContext, BlockHash, ConsensusAddress, Event, Misbehavior, MisbehaviorKind, Timestamp,
    TxError,
};
use ballast_proto::ballast::app::v1::ChainInfo;
use tendermint_proto::google::protobuf::Timestamp as PbTimestamp;
use tendermint_proto::v0_38::abci as pb;

/// A protobuf timestamp as a domain timestamp (zero when absent).
pub fn timestamp(t: Option<&PbTimestamp>) -> Timestamp {
    t.map(|t| Timestamp {
        seconds: t.seconds,
        nanos: u32::try_from(t.nanos).unwrap_or(0),
    })
    .unwrap_or_default()
}

/// A positive height.
pub fn height(h: i64) -> Result<u64, AppError> {
    u64::try_from(h)
        .ok()
        .filter(|h| *h > 0)
        .ok_or_else(|| AppError::BadRequest(format!("height {h} is not positive")))
}

/// A 32-byte hash.
pub fn hash32(b: &[u8]) -> Result<[u8; 32], AppError> {
    b.try_into()
        .map_err(|_| AppError::BadRequest(format!("hash has {} bytes, expected 32", b.len())))
}

fn address20(b: &[u8]) -> Result<[u8; 20], AppError> {
    b.try_into().map_err(|_| {
        AppError::BadRequest(format!(
            "validator address has {} bytes, expected 20",
            b.len()
        ))
    })
}

/// The block context of a proposal or a decided block. `hash` may be empty (PrepareProposal).
pub fn block_context(
    chain: &ChainInfo,
    h: i64,
    time: Option<&PbTimestamp>,
    proposer: &[u8],
    hash: &[u8],
    misbehavior: &[pb::Misbehavior],
) -> Result<BlockContext, AppError> {
    let hash = if hash.is_empty() {
        [0u8; 32]
    } else {
        hash32(hash)?
    };
    let proposer = if proposer.is_empty() {
        [0u8; 20]
    } else {
        address20(proposer)?
    };
    let mut mis = Vec::with_capacity(misbehavior.len());
    for m in misbehavior {
        let v = m
            .validator
            .as_ref()
            .ok_or_else(|| AppError::BadRequest("misbehavior without validator".into()))?;
        mis.push(Misbehavior {
            kind: match m.r#type {
                1 => MisbehaviorKind::DuplicateVote,
                2 => MisbehaviorKind::LightClientAttack,
                _ => MisbehaviorKind::Unknown,
            },
            validator: ConsensusAddress(address20(&v.address)?),
            power: v.power,
            height: u64::try_from(m.height).unwrap_or(0),
            time: timestamp(m.time.as_ref()),
            total_voting_power: m.total_voting_power,
        });
    }
    Ok(BlockContext {
        chain_id: chain.chain_id.clone(),
        height: height(h)?,
        time: timestamp(time),
        proposer: ConsensusAddress(proposer),
        hash: BlockHash(hash),
        misbehavior: mis,
    })
}

/// One vote of a commit; `extension` is empty for a plain commit.
fn vote(
    validator: Option<&pb::Validator>,
    block_id_flag: i32,
    extension: &[u8],
) -> Result<ExtendedVote, AppError> {
    let val = validator.ok_or_else(|| AppError::BadRequest("vote without validator".into()))?;
    Ok(ExtendedVote {
        validator: address20(&val.address)?,
        power: val.power,
        extension: extension.to_vec(),
        committed: block_id_flag == 2,
    })
}

/// The votes of the last commit with their extensions.
pub fn extended_votes(c: Option<&pb::ExtendedCommitInfo>) -> Result<Vec<ExtendedVote>, AppError> {
    let Some(c) = c else { return Ok(Vec::new()) };
    c.votes
        .iter()
        .map(|v| vote(v.validator.as_ref(), v.block_id_flag, &v.vote_extension))
        .collect()
}

/// The votes of a plain commit (ProcessProposal's `proposed_last_commit`), without extensions.
pub fn commit_votes(c: Option<&pb::CommitInfo>) -> Result<Vec<ExtendedVote>, AppError> {
    let Some(c) = c else { return Ok(Vec::new()) };
    c.votes
        .iter()
        .map(|v| vote(v.validator.as_ref(), v.block_id_flag, &[]))
        .collect()
}

/// The consensus address of a validator update: the first 20 bytes of SHA-256 over its ed25519
/// public key, as CometBFT derives it.
pub fn validator_update_address(
    v: &pb::ValidatorUpdate,
) -> Result<ballast_framework::ConsensusAddress, String> {
    use tendermint_proto::v0_38::crypto::public_key::Sum;
    match v.pub_key.as_ref().and_then(|k| k.sum.as_ref()) {
        Some(Sum::Ed25519(bytes)) if bytes.len() == 32 => {
            let mut key = [0u8; 32];
            key.copy_from_slice(bytes);
            Ok(ballast_checkpointing::register::consensus_key_address(&key))
        }
        Some(Sum::Ed25519(bytes)) => Err(format!(
            "ed25519 public key of {} bytes, expected 32",
            bytes.len()
        )),
        Some(_) => Err("only ed25519 validator keys are supported".into()),
        None => Err("validator without a public key".into()),
    }
}

/// A CometBFT validator update for an ed25519 key (power 0 removes the validator).
pub fn ed25519_validator_update(
    pubkey: &[u8; 32],
    power: u64,
) -> Result<pb::ValidatorUpdate, String> {
    use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
    let power = i64::try_from(power)
        .map_err(|_| format!("validator power {power} does not fit CometBFT's int64"))?;
    Ok(pb::ValidatorUpdate {
        pub_key: Some(PublicKey {
            sum: Some(Sum::Ed25519(pubkey.to_vec())),
        }),
        power,
    })
}

/// An ABCI event (every attribute indexed).
pub fn event(e: &Event) -> pb::Event {
    pb::Event {
        r#type: e.kind.clone(),
        attributes: e
            .attributes
            .iter()
            .map(|(k, v)| pb::EventAttribute {
                key: k.clone(),
                value: v.clone(),
                index: true,
            })
            .collect(),
    }
}

fn gas(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The FinalizeBlock result of one tx.
pub fn exec_tx_result(o: &TxOutcome) -> pb::ExecTxResult {
    pb::ExecTxResult {
        code: o.code,
        data: Default::default(),
        log: o.log.clone(),
        info: String::new(),
        gas_wanted: gas(o.gas_wanted),
        gas_used: gas(o.gas_used),
        events: o.events.iter().map(event).collect(),
        codespace: o.codespace.clone(),
    }
}

/// The CheckTx result of one tx.
pub fn check_tx_result(o: &TxOutcome) -> pb::ResponseCheckTx {
    pb::ResponseCheckTx {
        code: o.code,
        log: o.log.clone(),
        gas_wanted: gas(o.gas_wanted),
        gas_used: gas(o.gas_used),
        codespace: o.codespace.clone(),
        ..Default::default()
    }
}

/// A CheckTx rejection.
pub fn check_tx_error(e: &TxError) -> pb::ResponseCheckTx {
    pb::ResponseCheckTx {
        code: e.code,
        log: e.log.clone(),
        codespace: e.codespace.into(),
        ..Default::default()
    }
}
