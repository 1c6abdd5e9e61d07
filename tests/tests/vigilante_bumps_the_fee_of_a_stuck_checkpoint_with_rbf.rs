//! A checkpoint whose txs miners ignore (`prioritisetransaction` with a large negative delta on
//! tx1, against a real regtest bitcoind) is fee-bumped by the vigilante after
//! `rbf_after_blocks` blocks: tx1 is replaced by a tx spending the same coins with a higher fee
//! rate, and tx2 is rebuilt on the new tx1. The replacements confirm, Ballast records exactly
//! them, and the wallet shows the replaced pair as conflicted (never confirmed).

use ballast_proto::ballast::checkpointing::v1::CheckpointStatus as S;
use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::vigilante::{
    confirming_block, in_mempool, txids_in_line, DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid};
use bitcoincore_rpc::RpcApi;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn wallet_tx(btc: &BitcoinD, txid: &Txid) -> (Transaction, i64) {
    let v: serde_json::Value = btc
        .rpc()
        .call("gettransaction", &[serde_json::json!(txid.to_string())])
        .unwrap();
    let tx: Transaction =
        bitcoin::consensus::deserialize(&hex::decode(v["hex"].as_str().unwrap()).unwrap()).unwrap();
    (tx, v["confirmations"].as_i64().unwrap())
}

#[test]
fn vigilante_bumps_the_fee_of_a_stuck_checkpoint_with_rbf() {
    let btc = BitcoinD::start().unwrap();
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = DevChain::start(&dir.path().join("dev"), 200);
    let mut cfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    cfg.rbf_after_blocks = 2;
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);
    let mut vig = Vigilante::start(&config_path, &[]);

    let line = vig.wait_log(&["submitted checkpoint", "epoch=1 "], WAIT);
    let (tx1, tx2) = txids_in_line(&line);
    // Miners now ignore tx1 (and so tx2, its child).
    btc.rpc()
        .call::<bool>(
            "prioritisetransaction",
            &[
                serde_json::json!(tx1.to_string()),
                serde_json::json!(0),
                serde_json::json!(-100_000_000),
            ],
        )
        .unwrap();
    btc.mine(1).unwrap();
    assert!(
        in_mempool(&btc, &tx1) && in_mempool(&btc, &tx2),
        "the pair is stuck"
    );
    assert!(
        vig.lines_with(&["replaced (fee bump) checkpoint", "epoch=1 "])
            .is_empty(),
        "no bump after one block"
    );
    btc.mine(1).unwrap();
    let bump = vig.wait_log(&["replaced (fee bump) checkpoint", "epoch=1 "], WAIT);
    let (new1, new2) = txids_in_line(&bump);
    assert_ne!((new1, new2), (tx1, tx2));
    assert!(
        !in_mempool(&btc, &tx1) && !in_mempool(&btc, &tx2),
        "the old pair was replaced"
    );
    assert!(in_mempool(&btc, &new1) && in_mempool(&btc, &new2));

    // The replacement spends the same coins at a higher fee rate; tx2 now spends it.
    let (old_tx1, _) = wallet_tx(&btc, &tx1);
    let (new_tx1, _) = wallet_tx(&btc, &new1);
    let (new_tx2, _) = wallet_tx(&btc, &new2);
    let outpoints = |t: &Transaction| {
        let mut v: Vec<_> = t.input.iter().map(|i| i.previous_output).collect();
        v.sort();
        v
    };
    assert_eq!(outpoints(&old_tx1), outpoints(&new_tx1));
    let out_sum = |t: &Transaction| t.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
    assert!(
        out_sum(&new_tx1) < out_sum(&old_tx1),
        "the replacement pays more fee from its change"
    );
    assert_eq!(
        old_tx1.output[..2],
        new_tx1.output[..2],
        "same OP_RETURN and carry"
    );
    assert!(new_tx2.input.iter().any(|i| i.previous_output.txid == new1));

    // The replacement confirms; Ballast records it; the old pair never confirms.
    let b = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &new1), Some(b));
    assert_eq!(confirming_block(&btc, &new2), Some(b));
    let c = chain.wait_status(1, S::Submitted, WAIT, || vig.log_tail(30));
    let s = c.submission.unwrap();
    assert_eq!(
        Txid::from_byte_array(s.part0.unwrap().txid.try_into().unwrap()),
        new1
    );
    assert_eq!(
        Txid::from_byte_array(s.part1.unwrap().txid.try_into().unwrap()),
        new2
    );
    let (_, old_conf) = wallet_tx(&btc, &tx1);
    assert!(
        old_conf < 0,
        "the replaced tx1 is conflicted, found {old_conf} confirmations"
    );
    assert!(vig.terminate(Duration::from_secs(30)));
}
