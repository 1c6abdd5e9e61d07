//! The vigilante is killed with SIGKILL in the middle of submissions and restarted on the same
//! data dir, against a real regtest bitcoind and `ballastd dev`:
//!
//! 1. `BALLAST_VIGILANTE_FAULT=after-tx1`: it dies right after broadcasting an epoch's tx1.
//!    tx1 is in the mempool, tx2 is not (but is in the state file). Restarted with
//!    `after-persist`, it rebroadcasts that same tx2, then dies after persisting the next
//!    epoch's pair, before broadcasting it.
//! 2. Restarted without a fault, it broadcasts exactly the persisted pair. bitcoind is then
//!    restarted without its saved mempool: the same pair is back in its mempool.
//! 3. After mining, the wallet holds exactly one tx1 and one tx2 per epoch (no double payment),
//!    each tx2 spending its epoch's tx1, and both interrupted epochs reach SUBMITTED with those
//!    txs.

use ballast_checkpointing::encoding::CheckpointTag;
use ballast_proto::ballast::checkpointing::v1::CheckpointStatus as S;
use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::vigilante::{
    in_mempool, wait_for, wallet_checkpoint_txs, DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// The persisted (epoch → [(tx1, tx2)]) record of the data dir.
fn persisted(data_dir: &Path) -> BTreeMap<u64, Vec<(Transaction, Transaction)>> {
    let text = std::fs::read_to_string(data_dir.join("submitter-state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dec = |h: &serde_json::Value| -> Transaction {
        bitcoin::consensus::deserialize(&hex::decode(h.as_str().unwrap()).unwrap()).unwrap()
    };
    v["epochs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(e, s)| {
            let pairs = s["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (dec(&a["tx1_hex"]), dec(&a["tx2_hex"])))
                .collect();
            (e.parse().unwrap(), pairs)
        })
        .collect()
}

#[test]
fn vigilante_killed_mid_submission_pays_once_per_epoch() {
    let mut btc = BitcoinD::start().unwrap();
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = DevChain::start(&dir.path().join("dev"), 200);
    let data = dir.path().join("vigilante-data");
    let cfg = VigilanteConfig::new(&chain, &btc, &data);
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);

    // 1. Killed after the first tx1.
    let mut vig = Vigilante::start(&config_path, &[("BALLAST_VIGILANTE_FAULT", "after-tx1")]);
    assert!(
        vig.wait_killed(WAIT),
        "the fault kills with SIGKILL:\n{}",
        vig.log_tail(30)
    );
    let state = persisted(&data);
    assert_eq!(
        state.len(),
        1,
        "one epoch was in flight: {:?}",
        state.keys()
    );
    let (&e1, pairs) = state.iter().next().unwrap();
    assert_eq!(pairs.len(), 1);
    let (tx1, tx2) = (pairs[0].0.compute_txid(), pairs[0].1.compute_txid());
    assert!(in_mempool(&btc, &tx1), "tx1 was broadcast before the kill");
    assert!(!in_mempool(&btc, &tx2), "tx2 was not");
    assert!(
        vig.lines_with(&["submitted checkpoint"]).is_empty(),
        "no submission was completed"
    );

    // Restarted: the same tx2 goes out; the next epoch's pair is persisted, then the kill.
    let mut vig = Vigilante::start(
        &config_path,
        &[("BALLAST_VIGILANTE_FAULT", "after-persist")],
    );
    assert!(vig.wait_killed(WAIT), "{}", vig.log_tail(30));
    assert!(
        in_mempool(&btc, &tx2),
        "the restarted vigilante rebroadcast tx2:\n{}",
        vig.log_tail(30)
    );
    assert_eq!(
        vig.lines_with(&["rebroadcast tx2", &format!("epoch={e1} ")])
            .len(),
        1
    );
    let state = persisted(&data);
    let e2 = *state
        .keys()
        .find(|e| **e != e1)
        .expect("a second epoch was persisted");
    let (p1, p2) = &state[&e2][0];
    let (e2_tx1, e2_tx2) = (p1.compute_txid(), p2.compute_txid());
    assert!(
        !in_mempool(&btc, &e2_tx1) && !in_mempool(&btc, &e2_tx2),
        "killed before broadcasting"
    );
    assert_eq!(state[&e1].len(), 1, "epoch {e1} still has its single pair");

    // 2. A normal restart broadcasts exactly the persisted pair of the second epoch.
    let mut vig = Vigilante::start(&config_path, &[]);
    // First the coins of the unsent pair are locked, so that no new epoch can spend them.
    vig.wait_log(
        &["the unspent wallet coins of recorded checkpoint txs are locked"],
        WAIT,
    );
    vig.wait_log(
        &["rebroadcast checkpoint txs", &format!("epoch={e2} ")],
        WAIT,
    );
    assert!(in_mempool(&btc, &e2_tx1) && in_mempool(&btc, &e2_tx2));

    // bitcoind restarts without its saved mempool. Whether its wallet (which resubmits its
    // txs on load) or the vigilante puts the pair back, it is the same pair. (SIGKILL would
    // also lose regtest's unflushed blocks, and with them the coins of every pair.)
    btc.stop().unwrap();
    let _ = std::fs::remove_file(btc.datadir().join("regtest").join("mempool.dat"));
    btc.restart().unwrap();
    assert!(
        wait_for(WAIT, || in_mempool(&btc, &e2_tx1)
            && in_mempool(&btc, &e2_tx2)),
        "epoch {e2}'s pair is back in the mempool:\n{}",
        vig.log_tail(30)
    );
    assert!(vig.is_running());

    // 3. Mine: both epochs reach SUBMITTED with the very txs that were persisted.
    btc.mine(1).unwrap();
    for (e, t1, t2) in [(e1, tx1, tx2), (e2, e2_tx1, e2_tx2)] {
        let c = chain.wait_status(e, S::Submitted, WAIT, || vig.log_tail(30));
        let s = c.submission.unwrap();
        assert_eq!(
            Txid::from_byte_array(s.part0.unwrap().txid.try_into().unwrap()),
            t1
        );
        assert_eq!(
            Txid::from_byte_array(s.part1.unwrap().txid.try_into().unwrap()),
            t2
        );
    }
    // Let later epochs be written and mined too, then stop.
    let later = e2 + 1;
    chain.wait_status(later, S::Sealed, WAIT, || vig.log_tail(30));
    vig.wait_log(&["submitted checkpoint", &format!("epoch={later} ")], WAIT);
    btc.mine(1).unwrap();
    chain.wait_status(later, S::Submitted, WAIT, || vig.log_tail(30));
    assert!(vig.terminate(Duration::from_secs(30)));

    // The wallet: exactly one part-0 tx and one part-1 tx per epoch, chained, none replaced.
    let txs = wallet_checkpoint_txs(&btc, CheckpointTag::DEFAULT);
    let mut per_epoch: BTreeMap<u64, (Vec<Txid>, Vec<Txid>)> = BTreeMap::new();
    for t in &txs {
        let e = t.epoch.expect("every part 1 spends a wallet part 0");
        let entry = per_epoch.entry(e).or_default();
        if t.part == 0 {
            entry.0.push(t.txid);
        } else {
            entry.1.push(t.txid);
        }
        assert!(
            t.confirmations >= 0,
            "no tx was replaced or conflicted: {t:?}"
        );
    }
    for e in [e1, e2, later] {
        let (p0, p1) = per_epoch
            .get(&e)
            .unwrap_or_else(|| panic!("epoch {e} in the wallet"));
        assert_eq!((p0.len(), p1.len()), (1, 1), "epoch {e}: {p0:?} {p1:?}");
    }
    for (e, (p0, p1)) in &per_epoch {
        assert_eq!(
            (p0.len(), p1.len()),
            (1, 1),
            "epoch {e} paid more than once"
        );
    }
    assert_eq!(per_epoch[&e1], (vec![tx1], vec![tx2]));
    assert_eq!(per_epoch[&e2], (vec![e2_tx1], vec![e2_tx2]));
}
