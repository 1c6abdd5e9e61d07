//! `ballast-vigilante` between a real regtest bitcoind and `ballastd dev` (one validator that
//! seals a checkpoint every 10 blocks):
//!
//! - the reporter brings the light client to bitcoind's tip;
//! - epoch 1's checkpoint is written to Bitcoin as two chained OP_RETURN txs naming the
//!   vigilante's account, and goes SEALED → SUBMITTED → CONFIRMED → FINALIZED on Ballast as
//!   blocks are mined (6 and 20 deep), the recorded submission being exactly those two txs;
//! - a later epoch, SUBMITTED, loses the block holding its txs to a longer branch
//!   (`invalidateblock`, then empty blocks): Ballast moves it back to SEALED; once a block on the
//!   new branch holds the txs again it returns to SUBMITTED and reaches FINALIZED, with a
//!   submission in a block of the new branch.

use ballast_checkpointing::encoding::{decode, op_return_data, CheckpointTag};
use ballast_proto::ballast::checkpointing::v1::CheckpointStatus as S;
use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::vigilante::{
    confirming_block, in_mempool, mine_empty, txids_in_line, wait_for, wallet_checkpoint_txs,
    DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn context(v: &Vigilante) -> impl Fn() -> String + '_ {
    move || format!("vigilante log tail:\n{}", v.log_tail(30))
}

/// The txids and blocks of a checkpoint's recorded submission.
fn submission(
    c: &ballast_proto::ballast::checkpointing::v1::CheckpointRecord,
) -> (Txid, Txid, BlockHash, BlockHash) {
    let s = c
        .submission
        .as_ref()
        .expect("a submitted checkpoint records its submission");
    let (p0, p1) = (s.part0.as_ref().unwrap(), s.part1.as_ref().unwrap());
    let txid = |b: &[u8]| Txid::from_byte_array(b.try_into().unwrap());
    let hash = |b: &[u8]| BlockHash::from_byte_array(b.try_into().unwrap());
    (
        txid(&p0.txid),
        txid(&p1.txid),
        hash(&p0.block_hash),
        hash(&p1.block_hash),
    )
}

#[test]
fn vigilante_writes_checkpoints_to_bitcoin_and_recovers_them_after_a_reorg() {
    let btc = BitcoinD::start().unwrap();
    // 110 blocks: ten mature coinbases to fund checkpoints.
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = DevChain::start(&dir.path().join("dev"), 200);
    let cfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);
    let mut vig = Vigilante::start(&config_path, &[]);

    // The reporter relays bitcoind's 110 headers.
    chain.wait_lc_tip(&btc, WAIT, context(&vig));
    vig.wait_log(&["relayed headers", "from=1"], WAIT);

    // Epoch 1: sealed, then written to Bitcoin.
    let sealed = chain.wait_status(1, S::Sealed, WAIT, context(&vig));
    let line = vig.wait_log(&["submitted checkpoint", "epoch=1 "], WAIT);
    let (tx1, tx2) = txids_in_line(&line);
    assert!(in_mempool(&btc, &tx1) && in_mempool(&btc, &tx2), "{line}");
    // The two txs carry exactly the sealed checkpoint and name the vigilante's account.
    let wallet = wallet_checkpoint_txs(&btc, CheckpointTag::DEFAULT);
    let t1 = wallet
        .iter()
        .find(|t| t.txid == tx1)
        .expect("tx1 is a wallet tx");
    let t2 = wallet
        .iter()
        .find(|t| t.txid == tx2)
        .expect("tx2 is a wallet tx");
    assert_eq!((t1.part, t2.part), (0, 1));
    assert!(
        t2.tx.input.iter().any(|i| i.previous_output.txid == tx1),
        "tx2 spends tx1"
    );
    let (raw, submitter) = decode(
        &op_return_data(&t1.tx).unwrap().1,
        &op_return_data(&t2.tx).unwrap().1,
        CheckpointTag::DEFAULT,
    )
    .unwrap();
    assert_eq!(raw.to_proto(), sealed.raw.clone().unwrap());
    assert_eq!(submitter.to_string(), chain.dev_address());

    // One block: both txs in it; the reporter proves them.
    let b1 = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &tx1), Some(b1));
    assert_eq!(confirming_block(&btc, &tx2), Some(b1));
    let c = chain.wait_status(1, S::Submitted, WAIT, context(&vig));
    assert_eq!(submission(&c), (tx1, tx2, b1, b1));
    vig.wait_log(&["reported proof", "epoch=1 "], WAIT);
    // Six deep (the block plus five on it = depth 5; one more makes depth 6): CONFIRMED.
    btc.mine(5).unwrap();
    chain.wait_lc_tip(&btc, WAIT, context(&vig));
    assert_eq!(
        chain.status(1),
        S::Submitted,
        "depth 5 is not yet confirmed"
    );
    btc.mine(1).unwrap();
    chain.wait_status(1, S::Confirmed, WAIT, context(&vig));
    // Twenty deep: FINALIZED.
    btc.mine(13).unwrap();
    chain.wait_lc_tip(&btc, WAIT, context(&vig));
    assert_eq!(chain.status(1), S::Confirmed, "depth 19 is not yet final");
    btc.mine(1).unwrap();
    let fin = chain.wait_status(1, S::Finalized, WAIT, context(&vig));
    let statuses: Vec<i32> = fin.lifecycle.iter().map(|l| l.status).collect();
    assert_eq!(
        statuses,
        [
            S::Accumulating,
            S::Sealed,
            S::Submitted,
            S::Confirmed,
            S::Finalized
        ]
        .map(|s| s as i32)
    );
    vig.wait_log(
        &[
            "checkpoint finalized on ballast; no longer tracked",
            "epoch=1",
        ],
        WAIT,
    );

    // A later epoch, submitted in a block that a reorg then removes.
    // The newest epoch the vigilante has written whose txs are still in the mempool.
    let mut pending = None;
    let found = wait_for(WAIT, || {
        pending = vig
            .lines_with(&["submitted checkpoint"])
            .iter()
            .map(|l| {
                let e: u64 = l
                    .split(" epoch=")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                let (a, b) = txids_in_line(l);
                (e, a, b)
            })
            .filter(|(e, a, b)| *e > 1 && in_mempool(&btc, a) && in_mempool(&btc, b))
            .last();
        pending.is_some()
    });
    assert!(found, "no later epoch was written:\n{}", vig.log_tail(30));
    let (epoch, e_tx1, e_tx2) = pending.unwrap();
    let bx = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &e_tx1), Some(bx));
    let c = chain.wait_status(epoch, S::Submitted, WAIT, context(&vig));
    assert_eq!(submission(&c), (e_tx1, e_tx2, bx, bx));
    // bx is replaced by a longer branch of two empty blocks; its txs go back to the mempool.
    btc.invalidate(&bx).unwrap();
    assert!(in_mempool(&btc, &e_tx1) && in_mempool(&btc, &e_tx2));
    mine_empty(&btc);
    mine_empty(&btc);
    chain.wait_lc_tip(&btc, WAIT, context(&vig));
    assert!(!chain.lc_on_best_chain(&bx), "the light client left bx");
    let back = chain.wait_status(epoch, S::Sealed, WAIT, context(&vig));
    assert!(back.submission.is_none(), "the pruned submission is gone");
    let lifecycle: Vec<i32> = back.lifecycle.iter().map(|l| l.status).collect();
    assert_eq!(
        &lifecycle[lifecycle.len() - 2..],
        &[S::Submitted as i32, S::Sealed as i32],
        "{lifecycle:?}"
    );
    // Mining on the new branch picks the txs up again; the checkpoint recovers.
    let by = btc.mine(1).unwrap()[0];
    assert_ne!(by, bx);
    let c = chain.wait_status(epoch, S::Submitted, WAIT, context(&vig));
    let (s1, s2, h1, h2) = submission(&c);
    assert_eq!(
        (h1, h2),
        (by, by),
        "the new submission is in the new branch's block"
    );
    assert_eq!(confirming_block(&btc, &s1), Some(by));
    assert_eq!(confirming_block(&btc, &s2), Some(by));
    btc.mine(20).unwrap();
    chain.wait_status(epoch, S::Finalized, WAIT, context(&vig));

    assert!(
        vig.terminate(Duration::from_secs(30)),
        "clean stop on SIGTERM:\n{}",
        vig.log_tail(20)
    );
    assert!(vig.log().contains("ballast-vigilante stopped"));
}
