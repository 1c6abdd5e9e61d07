//! The consensus hooks a module such as checkpointing plugs into: vote extensions travel from
//! ExtendVote through VerifyVoteExtension into the next PrepareProposal, the proposer injects a
//! tx built from them, ProcessProposal checks it, and FinalizeBlock applies it first. Tampered
//! extensions and proposals that omit, misplace or forge the injected tx are rejected.

use ballast_app::hooks::{frame_injected, ConsensusHook, ExtendedVote, VoteContext};
use ballast_app::{App, AppConfig};
use ballast_framework::{
    BlockContext, Event, StateRead, StateReadExt, StateWrite, StateWriteExt, TxError,
};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::InProcess;
use ballast_tests::keys::TestAccount;
use ballast_tests::{genesis_app_state, CHAIN_ID};
use std::sync::Arc;
use tendermint_proto::v0_38::abci as pb;

const KIND: u8 = 7;

/// Each validator extends its vote with `be_u64(height) || block_hash`; the next proposer
/// injects `be_u64(height - 1) || number of valid extensions`; applying it records the count.
struct EchoHook;

fn count_key(height: u64) -> String {
    format!("app/test_hook/{height:020}")
}

impl ConsensusHook for EchoHook {
    fn kind(&self) -> u8 {
        KIND
    }
    fn extend_vote(&self, _s: &dyn StateRead, ctx: &VoteContext) -> Result<Vec<u8>, TxError> {
        let mut v = ctx.height.to_be_bytes().to_vec();
        v.extend_from_slice(&ctx.block_hash);
        Ok(v)
    }
    fn verify_vote_extension(
        &self,
        _s: &dyn StateRead,
        ctx: &VoteContext,
        _val: [u8; 20],
        ext: &[u8],
    ) -> Result<(), TxError> {
        let mut want = ctx.height.to_be_bytes().to_vec();
        want.extend_from_slice(&ctx.block_hash);
        if ext == want.as_slice() {
            Ok(())
        } else {
            Err(TxError::new(
                "testhook",
                1,
                "extension does not sign this height and hash",
            ))
        }
    }
    fn prepare(
        &self,
        _s: &dyn StateRead,
        ctx: &BlockContext,
        votes: &[ExtendedVote],
    ) -> Result<Option<Vec<u8>>, TxError> {
        if ctx.height < 2 {
            return Ok(None);
        }
        let valid = votes
            .iter()
            .filter(|v| v.committed && v.extension.len() == 40)
            .count() as u64;
        let mut p = (ctx.height - 1).to_be_bytes().to_vec();
        p.extend_from_slice(&valid.to_be_bytes());
        Ok(Some(p))
    }
    fn verify(
        &self,
        _s: &dyn StateRead,
        ctx: &BlockContext,
        _last_commit: &[ExtendedVote],
        payload: Option<&[u8]>,
    ) -> Result<(), TxError> {
        match (ctx.height, payload) {
            (1, None) => Ok(()),
            (1, Some(_)) => Err(TxError::new("testhook", 2, "nothing to inject at height 1")),
            (_, None) => Err(TxError::new(
                "testhook",
                3,
                "the proposer omitted the injected tx",
            )),
            (h, Some(p)) if p.len() == 16 && p[..8] == (h - 1).to_be_bytes() => Ok(()),
            _ => Err(TxError::new("testhook", 4, "injected tx is malformed")),
        }
    }
    fn apply(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        payload: &[u8],
    ) -> Result<(), TxError> {
        let count = u64::from_be_bytes(
            payload[8..16]
                .try_into()
                .expect("verify checked the length"),
        );
        state.put_proto(
            count_key(ctx.height - 1),
            &prost_types::Duration {
                seconds: count as i64,
                nanos: 1,
            },
        )?;
        state.emit_event(Event::new("test_hook").attr("count", count));
        Ok(())
    }
}

fn node(dir: &std::path::Path) -> InProcess {
    InProcess(App::open_with_hooks(AppConfig::new(dir), vec![Arc::new(EchoHook)]).unwrap())
}

#[test]
fn extensions_flow_into_an_injected_tx_that_every_node_applies() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let accounts = TestAccount::many(2);
    let mut cons = MockConsensus::new(CHAIN_ID, 4, genesis_app_state(&accounts, 10));
    let (mut a, mut b) = (node(d1.path()), node(d2.path()));
    cons.handshake(&mut a).unwrap();
    cons.handshake(&mut b).unwrap();
    for _ in 0..5 {
        cons.produce_block(&mut [&mut a, &mut b], vec![]).unwrap();
    }
    let last = cons.blocks.last().unwrap().clone();
    assert_eq!(last.txs.len(), 1);
    assert_eq!(last.txs[0][..2], [0x00, KIND]);
    assert_eq!(last.tx_results[0].code, 0);
    assert!(last.tx_results[0]
        .events
        .iter()
        .any(|e| e.r#type == "test_hook"));
    // All four validators' extensions were valid, on both nodes' committed state.
    for n in [&a, &b] {
        let snap = n.0.storage().latest_snapshot().unwrap().unwrap();
        let v: prost_types::Duration = snap.get_proto(count_key(4)).unwrap().unwrap();
        assert_eq!(v.seconds, 4);
    }
}

#[test]
fn tampered_extensions_and_bad_injected_txs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, 10));
    let mut n = node(dir.path());
    cons.handshake(&mut n).unwrap();
    cons.produce_block(&mut [&mut n], vec![]).unwrap();
    let app = n.0.clone();

    // VerifyVoteExtension: a correct one passes, tampered or garbage ones are rejected.
    let hash = [3u8; 32];
    let good = app
        .extend_vote(pb::RequestExtendVote {
            hash: hash.to_vec().into(),
            height: 2,
            ..Default::default()
        })
        .unwrap();
    let verify = |ext: Vec<u8>| {
        app.verify_vote_extension(pb::RequestVerifyVoteExtension {
            hash: hash.to_vec().into(),
            validator_address: vec![1u8; 20].into(),
            height: 2,
            vote_extension: ext.into(),
        })
        .unwrap()
    };
    assert!(verify(good.clone()));
    let mut tampered = good.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(!verify(tampered));
    assert!(!verify(vec![]), "a missing extension is rejected");
    assert!(!verify(vec![0xde, 0xad]));
    let mut unknown_kind = good.clone();
    unknown_kind[0] = 9;
    assert!(!verify(unknown_kind));

    // ProcessProposal at height 2.
    let payload = |h: u64| {
        let mut p = h.to_be_bytes().to_vec();
        p.extend_from_slice(&1u64.to_be_bytes());
        p
    };
    let process = |txs: Vec<Vec<u8>>| {
        app.process_proposal(pb::RequestProcessProposal {
            txs: txs.into_iter().map(Into::into).collect(),
            hash: vec![4u8; 32].into(),
            height: 2,
            proposer_address: vec![1u8; 20].into(),
            ..Default::default()
        })
        .unwrap()
    };
    let valid_user_tx = ballast_tests::keys::TxSpec::send(&accounts[0], &accounts[1].address, 1, 0)
        .sign(&accounts[0]);
    assert!(process(vec![frame_injected(KIND, &payload(1))]));
    assert!(process(vec![
        frame_injected(KIND, &payload(1)),
        valid_user_tx.clone()
    ]));
    assert!(!process(vec![]), "omitting the injected tx");
    assert!(
        !process(vec![valid_user_tx.clone()]),
        "omitting the injected tx"
    );
    assert!(
        !process(vec![frame_injected(KIND, &payload(5))]),
        "a forged payload"
    );
    assert!(
        !process(vec![valid_user_tx, frame_injected(KIND, &payload(1))]),
        "injected tx after a user tx"
    );
    assert!(
        !process(vec![
            frame_injected(KIND, &payload(1)),
            frame_injected(KIND, &payload(1))
        ]),
        "injected twice"
    );
    assert!(
        !process(vec![frame_injected(9, &payload(1))]),
        "unknown kind"
    );
}
