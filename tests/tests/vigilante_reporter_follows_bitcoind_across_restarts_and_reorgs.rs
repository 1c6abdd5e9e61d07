//! The vigilante's reporter (submitter off) keeps `ballastd dev`'s light client on a real
//! regtest bitcoind's best chain (its queries going over ABCI through CometBFT's RPC):
//!
//! - from the genesis base it relays 101 headers in batches of at most `header_batch_size`;
//! - bitcoind stops and comes back (blocks mined meanwhile on restart): the reporter logs that
//!   bitcoind is unreachable, keeps running, and relays the new blocks;
//! - ballastd dev stops and comes back: the same;
//! - a reorg (`invalidateblock` three below the tip, then a longer branch) is relayed from the
//!   fork point: the light client's tip is the new branch's tip and the old blocks are off its
//!   best chain.

use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::vigilante::{DevChain, Vigilante, VigilanteConfig};
use bitcoincore_rpc::RpcApi;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn vigilante_reporter_follows_bitcoind_across_restarts_and_reorgs() {
    let mut btc = BitcoinD::start().unwrap();
    btc.mine(101).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = DevChain::start(&dir.path().join("dev"), 200);
    let mut cfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    cfg.submitter = false;
    cfg.header_batch_size = 30;
    // Queries as ABCI queries through CometBFT's RPC (the other tests use gRPC).
    cfg.ballast_grpc = String::new();
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);
    let mut vig = Vigilante::start(&config_path, &[]);
    let ctx = |v: &Vigilante| v.log_tail(30);

    chain.wait_lc_tip(&btc, WAIT, || ctx(&vig));
    assert_eq!(chain.lc_tip().0, 101);
    // 101 headers in batches of 30: 1-30, 31-60, 61-90, 91-101.
    // (The light client may show the tip a moment before the log line is written.)
    vig.wait_log(&["relayed headers", "from=91 ", "to=101 "], WAIT);
    for (from, to) in [(1, 30), (31, 60), (61, 90), (91, 101)] {
        assert_eq!(
            vig.lines_with(&[
                "relayed headers",
                &format!("from={from} "),
                &format!("to={to} ")
            ])
            .len(),
            1,
            "batch {from}-{to}:\n{}",
            vig.log_tail(30)
        );
    }
    assert!(vig.lines_with(&["relayed headers", "count=31"]).is_empty());

    // bitcoind goes away; the reporter says so and survives.
    btc.stop().unwrap();
    vig.wait_log(&["a node is unreachable; retrying", "task=reporter"], WAIT);
    assert!(vig.is_running());
    btc.restart().unwrap();
    btc.mine(4).unwrap();
    chain.wait_lc_tip(&btc, WAIT, || ctx(&vig));
    assert_eq!(chain.lc_tip().0, 105);

    // ballastd goes away and comes back.
    chain.stop();
    btc.mine(2).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(vig.is_running(), "{}", ctx(&vig));
    chain.start_again();
    chain.wait_lc_tip(&btc, WAIT, || ctx(&vig));
    assert_eq!(chain.lc_tip().0, 107);

    // A reorg: the three top blocks are replaced by a branch of five.
    let old_tip = btc.tip().unwrap();
    let fork_child = btc.rpc().get_block_hash(105).unwrap();
    btc.invalidate(&fork_child).unwrap();
    assert_eq!(btc.height().unwrap(), 104);
    let branch = btc.mine(5).unwrap();
    chain.wait_lc_tip(&btc, WAIT, || ctx(&vig));
    assert_eq!(chain.lc_tip(), (109, *branch.last().unwrap()));
    assert!(!chain.lc_on_best_chain(&old_tip));
    assert!(!chain.lc_on_best_chain(&fork_child));
    for h in &branch {
        assert!(chain.lc_on_best_chain(h));
    }
    // The branch is sent from the fork point.
    vig.wait_log(&["relayed headers", "from=105 "], WAIT);

    assert!(vig.terminate(Duration::from_secs(30)), "{}", ctx(&vig));
}
