//! A Bitcoin reorg deeper than w is fatal (PROTOCOL.md): `ballastd dev` + a regtest bitcoind +
//! `ballast-vigilante`, with the default k = 6 and w = 20.
//!
//! - epoch 1's checkpoint is written to Bitcoin in block b1 and reaches FINALIZED (b1 20 deep);
//! - b1 is invalidated and a longer branch of empty blocks replaces it (a reorg of 21 blocks);
//!   the vigilante relays the fork: simulation refuses its headers with the fatal code, so it
//!   logs why and sends them unsimulated, and CheckTx (decode and fees only) admits them;
//! - `ballastd dev` stops by itself with exit code 1 and an `Error:` line naming the deep reorg,
//!   epoch 1 and the block that failed, the one after the last committed; the light client's tip
//!   never moved onto the fork;
//! - restarted on the same home, it replays that decided block and halts again on it with the
//!   same error, committing nothing: it does not carry on silently.

// A test, not consensus code: it waits on processes with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_client::rpc::CometRpc;
use ballast_proto::ballast::btclightclient::v1 as lc_pb;
use ballast_proto::ballast::checkpointing::v1::CheckpointStatus as S;
use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::node::{ballastd_bin, free_port};
use ballast_tests::vigilante::{
    confirming_block, mine_empty, txids_in_line, DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use bitcoincore_rpc::RpcApi;
use prost::Message;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);

fn context(v: &Vigilante) -> impl Fn() -> String + '_ {
    move || format!("vigilante log tail:\n{}", v.log_tail(30))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(f)
}

/// The latest committed height, or `None` once the node no longer answers.
fn latest_height(rpc: &str) -> Option<u64> {
    let c = CometRpc::new(rpc)
        .ok()?
        .with_timeout(Duration::from_secs(2));
    block_on(c.status())
        .ok()
        .map(|s| s.sync_info.latest_block_height.value())
}

/// The light client's tip hash, or `None` once the node no longer answers.
fn lc_tip(rpc: &str) -> Option<BlockHash> {
    let c = CometRpc::new(rpc)
        .ok()?
        .with_timeout(Duration::from_secs(2));
    let r = block_on(c.abci_query(
        "/ballast.btclightclient.v1.Query/Tip",
        lc_pb::QueryTipRequest {}.encode_to_vec(),
        0,
        false,
    ))
    .ok()?;
    if r.code.is_err() {
        return None;
    }
    let tip = lc_pb::QueryTipResponse::decode(r.value.as_slice()).ok()?;
    tip.header?.hash.parse().ok()
}

/// The `height=` of the first line of `log` containing `needle` and a `height=` field.
fn height_field(log: &str, needle: &str) -> Option<u64> {
    log.lines().filter(|l| l.contains(needle)).find_map(|l| {
        let rest = l.split("height=").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

#[test]
fn a_bitcoin_reorg_deeper_than_w_halts_ballastd_dev() {
    let btc = BitcoinD::start().unwrap();
    // 110 blocks: ten mature coinbases to fund checkpoints.
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let mut chain = DevChain::start(&home, 200);
    let cfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);
    let mut vig = Vigilante::start(&config_path, &[]);
    chain.wait_lc_tip(&btc, WAIT, context(&vig));

    // Epoch 1 is written to Bitcoin in one block, b1, and finalized 20 blocks deep.
    chain.wait_status(1, S::Sealed, WAIT, context(&vig));
    let line = vig.wait_log(&["submitted checkpoint", "epoch=1 "], WAIT);
    let (tx1, tx2) = txids_in_line(&line);
    let b1 = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &tx1), Some(b1));
    assert_eq!(confirming_block(&btc, &tx2), Some(b1));
    // Twenty blocks on b1 make it 20 deep: FINALIZED.
    btc.mine(20).unwrap();
    let fin = chain.wait_status(1, S::Finalized, WAIT, context(&vig));
    let sub = fin
        .submission
        .expect("a finalized checkpoint has a submission");
    let block_of =
        |b: &[u8]| BlockHash::from_byte_array(b.try_into().expect("a 32-byte block hash"));
    let (p0, p1) = (
        sub.part0.as_ref().expect("part 0 is recorded"),
        sub.part1.as_ref().expect("part 1 is recorded"),
    );
    // The recorded blocks, in display order as bitcoind names them.
    assert_eq!(block_of(&p0.block_hash), b1);
    assert_eq!(block_of(&p1.block_hash), b1);

    // The old branch from b1 to the tip, which the light client follows.
    chain.wait_lc_tip(&btc, WAIT, context(&vig));
    let b1_height = btc.rpc().get_block_header_info(&b1).unwrap().height as u64;
    let old_tip_height = btc.height().unwrap();
    let old_tip = btc.tip().unwrap();
    assert_eq!(lc_tip(&chain.rpc), Some(old_tip));
    let depth = old_tip_height - b1_height + 1;
    assert!(
        depth > 20,
        "the reorg removes {depth} blocks: deeper than w"
    );
    let height_before = latest_height(&chain.rpc).expect("the node answers");

    // The reorg: b1 and everything on it leave; a longer branch of empty blocks replaces them.
    // The vigilante keeps running: its reporter relays the fork. Simulation refuses those
    // headers with the fatal code (checkpointing/40), so the reporter sends them unsimulated
    // with a fixed gas limit; CheckTx admits them, and the block that runs them must halt.
    btc.invalidate(&b1).unwrap();
    let fork: Vec<BlockHash> = (0..=depth).map(|_| mine_empty(&btc)).collect();
    assert_eq!(btc.height().unwrap(), old_tip_height + 1);

    // The node halts by itself; until then its light client never stands on the fork.
    let deadline = Instant::now() + WAIT;
    let mut tips_seen = Vec::new();
    let killed = loop {
        if let Some(t) = lc_tip(&chain.rpc) {
            tips_seen.push(t);
        }
        match chain.node.wait_killed(Duration::from_millis(200)) {
            Ok(killed) => break killed,
            Err(_) if Instant::now() < deadline => {}
            Err(e) => panic!("ballastd dev did not halt within {WAIT:?} ({e})"),
        }
    };
    assert!(!killed, "ballastd stopped by itself, not by SIGKILL");
    vig.wait_log(
        &[
            "deeper than btc_finalization_timeout",
            "relaying the headers anyway",
        ],
        WAIT,
    );
    for t in &tips_seen {
        assert!(
            !fork.contains(t),
            "the light client moved onto the fork: {t}"
        );
    }
    let log = std::fs::read_to_string(&chain.node.log_path).unwrap();
    let tail: Vec<&str> = log.lines().rev().take(6).collect();
    let names_the_reorg = |text: &str| {
        text.lines().any(|l| {
            l.contains(&format!("bitcoin reorg of {depth} blocks"))
                && l.contains("epoch(s) [1]")
                && l.contains("the chain halts")
        })
    };
    // Nothing after the last committed block: the block with the headers never committed.
    let last_committed = committed_heights(&log)
        .into_iter()
        .max()
        .expect("the chain committed blocks");
    assert!(last_committed >= height_before);
    assert!(
        !log.lines()
            .skip_while(|l| !names_the_reorg(l))
            .any(|l| l.contains("dev block committed")),
        "a block committed after the deep reorg error"
    );
    // `ballastd` ends a failed command with "Error: …" and exit code 1; the failed block is the
    // one after the last committed.
    let failed = format!("failed FinalizeBlock at height {}", last_committed + 1);
    assert!(
        log.lines()
            .any(|l| l.starts_with("Error: the block producer failed")
                && l.contains(&failed)
                && names_the_reorg(l)),
        "no clear halt line ({failed}); log tail:\n{}",
        tail.join("\n")
    );

    // Restarted on the same home, it replays the decided block and halts again on it.
    let restart_log = dir.path().join("restart.log");
    let rpc2 = format!("127.0.0.1:{}", free_port());
    let grpc2 = format!("127.0.0.1:{}", free_port());
    let metrics2 = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(ballastd_bin())
        .args([
            "dev",
            "--home",
            home.to_str().unwrap(),
            "--rpc-address",
            &rpc2,
            "--grpc-address",
            &grpc2,
            "--metrics-address",
            &metrics2,
            "--block-interval-ms",
            "200",
        ])
        .env_remove("BALLAST_FAULT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&restart_log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "restarted ballastd dev carries on instead of halting:\n{}",
                std::fs::read_to_string(&restart_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log2 = std::fs::read_to_string(&restart_log).unwrap();
    assert_eq!(status.code(), Some(1), "{log2}");
    // The same block fails again with the same error.
    assert!(
        log2.lines()
            .any(|l| l.starts_with("Error: ") && l.contains(&failed) && names_the_reorg(l)),
        "the restart does not halt on the same block ({failed}) naming the deep reorg:\n{log2}"
    );
    assert!(
        committed_heights(&log2).is_empty(),
        "the restart committed a block:\n{log2}"
    );
}

/// The heights of the "dev block committed" lines of a log.
fn committed_heights(log: &str) -> Vec<u64> {
    strip_ansi(log)
        .lines()
        .filter(|l| l.contains("dev block committed"))
        .filter_map(|l| height_field(l, "dev block committed"))
        .collect()
}

/// `text` without terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
