//! Four validators, each on its own node with its own BLS key, run CometBFT v0.38's call
//! sequence through the mock consensus. At every epoch's last block each validator signs the
//! block in its vote extension; the next proposer injects the aggregated checkpoint and every
//! node seals it. A tampered extension, a tampered checkpoint and a proposal that omits a due
//! checkpoint are all rejected, and none of them changes any node's state.

use ballast_app::checkpoint_hook::CHECKPOINT_HOOK_KIND;
use ballast_app::{App, AppConfig};
use ballast_checkpointing::genesis::GenesisBlsKey;
use ballast_checkpointing::BlsSecretKey;
use ballast_proto::ballast::checkpointing::v1 as cpb;
use ballast_tests::consensus::{consensus_address, MockConsensus};
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::CHAIN_ID;
use prost::bytes::Bytes;
use prost::Message;
use std::sync::Arc;
use tendermint_proto::v0_38::abci as pb;

const EPOCH_LENGTH: i64 = 5;
const VALIDATORS: usize = 4;

struct Validator {
    pubkey: [u8; 32],
    bls: BlsSecretKey,
}

fn validators() -> Vec<Validator> {
    (0..VALIDATORS)
        .map(|i| {
            let ed = ed25519_consensus::SigningKey::from([i as u8 + 1; 32]);
            Validator {
                pubkey: ed.verification_key().to_bytes(),
                bls: BlsSecretKey::from_ikm(&[0x40 + i as u8; 32]).unwrap(),
            }
        })
        .collect()
}

fn app_state(vals: &[Validator]) -> serde_json::Value {
    let keys: Vec<GenesisBlsKey> = vals
        .iter()
        .map(|v| GenesisBlsKey {
            validator_address: hex::encode(consensus_address(&v.pubkey)),
            bls_pubkey: hex::encode(v.bls.public_key().to_bytes()),
            pop: hex::encode(v.bls.proof_of_possession().to_bytes()),
        })
        .collect();
    serde_json::json!({
        "app": {"epoch_length": EPOCH_LENGTH},
        "checkpointing": {"bls_keys": keys},
    })
}

fn open_nodes(vals: &[Validator], dirs: &[tempfile::TempDir]) -> Vec<InProcess> {
    vals.iter()
        .zip(dirs)
        .map(|(v, d)| {
            let mut cfg = AppConfig::new(d.path());
            cfg.bls_key = Some(Arc::new(v.bls.clone()));
            InProcess(App::open(cfg).unwrap())
        })
        .collect()
}

fn checkpoint(node: &mut InProcess, epoch: u64) -> Option<cpb::CheckpointRecord> {
    let r = node.0.query(pb::RequestQuery {
        path: "/ballast.checkpointing.v1.Query/Checkpoint".into(),
        data: cpb::QueryCheckpointRequest { epoch }.encode_to_vec().into(),
        height: 0,
        prove: false,
    });
    if r.code != 0 {
        return None;
    }
    cpb::QueryCheckpointResponse::decode(r.value.as_ref())
        .unwrap()
        .checkpoint
}

fn produce(
    mock: &mut MockConsensus,
    nodes: &mut [InProcess],
) -> ballast_tests::consensus::DecidedBlock {
    let mut refs: Vec<&mut dyn Abci> = nodes.iter_mut().map(|n| n as &mut dyn Abci).collect();
    let (block, _) = mock.produce_block(&mut refs, Vec::new()).unwrap();
    block
}

fn app_hashes(nodes: &[InProcess]) -> Vec<Vec<u8>> {
    nodes
        .iter()
        .map(|n| n.0.info().last_block_app_hash.to_vec())
        .collect()
}

/// Splits an app-framed vote extension into (kind, payload) parts.
fn checkpoint_part(ext: &[u8]) -> Vec<u8> {
    assert_eq!(ext[0], CHECKPOINT_HOOK_KIND);
    let len = u32::from_be_bytes(ext[1..5].try_into().unwrap()) as usize;
    assert_eq!(ext.len(), 5 + len, "one framed part");
    ext[5..].to_vec()
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![CHECKPOINT_HOOK_KIND];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn four_validators_seal_a_checkpoint_every_epoch_and_reject_tampering() {
    let vals = validators();
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let mut nodes = open_nodes(&vals, &dirs);
    let pubkeys: Vec<[u8; 32]> = vals.iter().map(|v| v.pubkey).collect();
    let mut mock = MockConsensus::with_validator_keys(CHAIN_ID, &pubkeys, app_state(&vals));
    for n in nodes.iter_mut() {
        mock.handshake(n).unwrap();
    }

    // Epoch 1: heights 1..=5. Its last block's vote extensions carry BLS signatures.
    let mut last = None;
    for _ in 0..EPOCH_LENGTH {
        last = Some(produce(&mut mock, &mut nodes));
    }
    let epoch1_last = last.unwrap();
    let cp = checkpoint(&mut nodes[0], 1).expect("epoch 1's checkpoint is opened at its end");
    assert_eq!(cp.status, cpb::CheckpointStatus::Accumulating as i32);
    assert_eq!(cp.block_hash, epoch1_last.hash.to_vec());

    let ext_commit = mock.last_extended_commit().clone();
    assert_eq!(ext_commit.votes.len(), VALIDATORS);
    let parts: Vec<Vec<u8>> = ext_commit
        .votes
        .iter()
        .map(|v| checkpoint_part(&v.vote_extension))
        .collect();
    let h = epoch1_last.height;
    let verify = |node: &mut InProcess, validator: usize, ext: Vec<u8>| {
        node.0
            .verify_vote_extension(pb::RequestVerifyVoteExtension {
                hash: Bytes::copy_from_slice(&epoch1_last.hash),
                validator_address: Bytes::copy_from_slice(&mock.validators[validator]),
                height: h,
                vote_extension: ext.into(),
            })
            .unwrap()
    };
    // The honest extension verifies on another node.
    assert!(verify(&mut nodes[1], 0, frame(&parts[0])));
    // Tampered extensions are rejected: a flipped signature byte, another validator's
    // (valid) signature, a missing signature, and a signature over another block hash.
    let mut flipped = parts[0].clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    assert!(!verify(&mut nodes[1], 0, frame(&flipped)));
    assert!(!verify(&mut nodes[1], 0, frame(&parts[2])));
    assert!(!verify(&mut nodes[1], 0, Vec::new()));
    let other_hash_sig = ballast_checkpointing::extend_vote(
        &vals[0].bls,
        1,
        &ballast_framework::BlockHash([0x11; 32]),
    );
    assert!(!verify(&mut nodes[1], 0, frame(&other_hash_sig)));

    // The proposer of height 6 injects the aggregated checkpoint first.
    let before = app_hashes(&nodes);
    let proposer = mock.proposer_index(mock.next_height());
    let prep = nodes[proposer]
        .0
        .prepare_proposal(mock.prepare_request(&[]))
        .unwrap();
    assert_eq!(prep.txs.len(), 1, "the checkpoint is the only tx");
    let injected = prep.txs[0].to_vec();
    assert_eq!(&injected[..2], &[0x00, CHECKPOINT_HOOK_KIND]);
    let raw = ballast_checkpointing::RawCheckpoint::from_bytes(&injected[2..]).unwrap();
    assert_eq!(raw.epoch, 1);
    assert_eq!(raw.bitmap.count(), VALIDATORS);

    let commit = ballast_app::dev::sequence::commit_info(&ext_commit);
    let process = |node: &mut InProcess, txs: Vec<Vec<u8>>, commit: pb::CommitInfo| {
        let txs: Vec<Bytes> = txs.into_iter().map(Bytes::from).collect();
        node.0
            .process_proposal(mock.process_request(&txs, commit))
            .unwrap()
    };
    for n in nodes.iter_mut() {
        assert!(process(n, vec![injected.clone()], commit.clone()));
    }
    // A tampered checkpoint is rejected: a flipped aggregate-signature byte, a bitmap that
    // drops two signers (the aggregate no longer matches, and 2 of 4 is not enough), another
    // epoch's number and another block hash.
    let sig_at = 2 + 8 + 32 + 13;
    let mut bad_sig = injected.clone();
    bad_sig[sig_at + 47] ^= 0x01;
    let mut bad_bitmap = injected.clone();
    bad_bitmap[2 + 8 + 32] &= 0b1111_1100;
    let mut bad_epoch = injected.clone();
    bad_epoch[2 + 7] = 2;
    let mut bad_hash = injected.clone();
    bad_hash[2 + 8] ^= 0xff;
    for (what, tx) in [
        ("signature", bad_sig),
        ("bitmap", bad_bitmap),
        ("epoch", bad_epoch),
        ("block hash", bad_hash),
    ] {
        for n in nodes.iter_mut() {
            assert!(
                !process(n, vec![tx.clone()], commit.clone()),
                "a checkpoint with a tampered {what} is rejected"
            );
        }
    }
    // A proposer that omits the due checkpoint has its proposal rejected, since its last
    // commit holds all four validators' verified extensions...
    for n in nodes.iter_mut() {
        assert!(!process(n, Vec::new(), commit.clone()));
    }
    // ... but a proposer whose last commit holds only 2 of 4 (not more than 2/3) may go on
    // without it; the checkpoint then waits.
    let mut thin = commit.clone();
    for v in thin.votes.iter_mut().skip(2) {
        v.block_id_flag = 1; // BlockIDFlagAbsent
    }
    assert!(process(&mut nodes[1], Vec::new(), thin));
    // The checkpoint cannot be moved behind a user tx either.
    assert!(!process(
        &mut nodes[1],
        vec![vec![0x0a, 0x00], injected.clone()],
        commit.clone()
    ));
    // None of this touched any node's state.
    assert_eq!(app_hashes(&nodes), before);
    assert_eq!(
        checkpoint(&mut nodes[2], 1).unwrap().status,
        cpb::CheckpointStatus::Accumulating as i32
    );

    // Three epochs: each checkpoint is sealed in the first block of the next, on every node.
    for epoch in 1..=3u64 {
        let sealed_at = epoch as i64 * EPOCH_LENGTH + 1;
        while mock.next_height() <= sealed_at {
            produce(&mut mock, &mut nodes);
        }
        let first = mock.blocks[(sealed_at - 1) as usize].clone();
        assert_eq!(
            &first.txs[0][..2],
            &[0x00, CHECKPOINT_HOOK_KIND],
            "height {sealed_at} starts with epoch {epoch}'s checkpoint"
        );
        let epoch_last = &mock.blocks[(sealed_at - 2) as usize];
        for n in nodes.iter_mut() {
            let cp = checkpoint(n, epoch).unwrap();
            assert_eq!(
                cp.status,
                cpb::CheckpointStatus::Sealed as i32,
                "epoch {epoch}"
            );
            assert_eq!(cp.block_hash, epoch_last.hash.to_vec());
            assert_eq!(cp.signed_power, 40);
            assert_eq!(cp.total_power, 40);
            let raw = cp.raw.unwrap();
            assert_eq!(raw.epoch, epoch);
            assert_eq!(raw.bitmap[0], 0b0000_1111);
            let statuses: Vec<i32> = cp.lifecycle.iter().map(|e| e.status).collect();
            assert_eq!(
                statuses,
                vec![
                    cpb::CheckpointStatus::Accumulating as i32,
                    cpb::CheckpointStatus::Sealed as i32
                ]
            );
            assert_eq!(cp.lifecycle[1].hub_height, sealed_at as u64);
        }
        let sealed_events: Vec<&pb::Event> = first
            .events
            .iter()
            .chain(first.tx_results.iter().flat_map(|r| r.events.iter()))
            .filter(|e| e.r#type.contains("checkpoint"))
            .collect();
        assert!(
            !sealed_events.is_empty(),
            "sealing epoch {epoch} emits an event"
        );
    }
    // Nodes agree; a restarted node comes back through the handshake with the same state and
    // goes on signing.
    let hashes = app_hashes(&nodes);
    assert!(hashes.iter().all(|h| *h == hashes[0]));
    let last = nodes.pop().unwrap();
    last.0.shutdown();
    drop(last);
    let mut cfg = AppConfig::new(dirs[3].path());
    cfg.bls_key = Some(Arc::new(vals[3].bls.clone()));
    nodes.push(InProcess(App::open(cfg).unwrap()));
    mock.handshake(&mut nodes[3]).unwrap();
    assert_eq!(app_hashes(&nodes)[3], hashes[0]);
    while mock.next_height() <= 4 * EPOCH_LENGTH + 1 {
        produce(&mut mock, &mut nodes);
    }
    let cp = checkpoint(&mut nodes[3], 4).unwrap();
    assert_eq!(cp.status, cpb::CheckpointStatus::Sealed as i32);
    assert_eq!(
        cp.raw.unwrap().bitmap[0],
        0b0000_1111,
        "the restarted validator signed"
    );
}
