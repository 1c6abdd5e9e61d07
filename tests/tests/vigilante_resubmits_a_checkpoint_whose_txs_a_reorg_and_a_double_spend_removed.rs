//! A SUBMITTED checkpoint loses its Bitcoin txs for good: the block holding them is reorged
//! out (`invalidateblock`), and while they wait in the mempool again, a wallet tx spending
//! tx1's coin with a higher fee replaces them and is mined on a longer branch. Ballast moves
//! the epoch back to SEALED; the vigilante sees tx1's coin spent in the chain, builds a fresh
//! pair from other coins, and the checkpoint reaches SUBMITTED and FINALIZED with the new pair.
//! The old pair never confirms.

use ballast_proto::ballast::checkpointing::v1::CheckpointStatus as S;
use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::vigilante::{
    confirming_block, in_mempool, txids_in_line, DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, Transaction, Txid};
use bitcoincore_rpc::RpcApi;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn wallet_tx(btc: &BitcoinD, txid: &Txid) -> Transaction {
    let v: serde_json::Value = btc
        .rpc()
        .call("gettransaction", &[serde_json::json!(txid.to_string())])
        .unwrap();
    bitcoin::consensus::deserialize(&hex::decode(v["hex"].as_str().unwrap()).unwrap()).unwrap()
}

/// A wallet tx spending `tx`'s first input back to the wallet with a 0.001 BTC fee (far above
/// the checkpoint pair's), so it replaces `tx` and its child.
fn double_spend(btc: &BitcoinD, tx: &Transaction) -> Txid {
    let prev = tx.input[0].previous_output;
    let value = wallet_tx(btc, &prev.txid).output[prev.vout as usize].value;
    let to = btc.new_address().unwrap();
    let raw: String = btc
        .rpc()
        .call(
            "createrawtransaction",
            &[
                serde_json::json!([{"txid": prev.txid.to_string(), "vout": prev.vout}]),
                serde_json::json!({ to.to_string(): (value - Amount::from_sat(100_000)).to_string_in(bitcoin::Denomination::Bitcoin) }),
            ],
        )
        .unwrap();
    let signed = btc.sign(&hex::decode(raw).unwrap()).unwrap();
    btc.rpc().send_raw_transaction(&signed).unwrap()
}

#[test]
fn vigilante_resubmits_a_checkpoint_whose_txs_a_reorg_and_a_double_spend_removed() {
    let btc = BitcoinD::start().unwrap();
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = DevChain::start(&dir.path().join("dev"), 200);
    let cfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    let config_path = dir.path().join("vigilante.toml");
    cfg.write(&config_path);
    let mut vig = Vigilante::start(&config_path, &[]);

    let line = vig.wait_log(&["submitted checkpoint", "epoch=1 "], WAIT);
    let (tx1, tx2) = txids_in_line(&line);
    let bx = btc.mine(1).unwrap()[0];
    chain.wait_status(1, S::Submitted, WAIT, || vig.log_tail(30));

    // The block goes; the pair is back in the mempool; a double spend of tx1's coin replaces it.
    btc.invalidate(&bx).unwrap();
    assert!(in_mempool(&btc, &tx1) && in_mempool(&btc, &tx2));
    let conflict = double_spend(&btc, &wallet_tx(&btc, &tx1));
    assert!(
        !in_mempool(&btc, &tx1) && !in_mempool(&btc, &tx2),
        "replaced"
    );
    // A longer branch with the double spend: Ballast follows it, epoch 1 is SEALED again.
    let branch = btc.mine(2).unwrap();
    assert_eq!(confirming_block(&btc, &conflict), Some(branch[0]));
    chain.wait_lc_tip(&btc, WAIT, || vig.log_tail(30));
    chain.wait_status(1, S::Sealed, WAIT, || vig.log_tail(30));

    // The vigilante writes the checkpoint again with other coins.
    let again = vig.wait_log(&["resubmitted checkpoint", "epoch=1 "], WAIT);
    let (new1, new2) = txids_in_line(&again);
    assert!(new1 != tx1 && new2 != tx2);
    assert!(in_mempool(&btc, &new1) && in_mempool(&btc, &new2));
    let b = btc.mine(1).unwrap()[0];
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
    assert_eq!(confirming_block(&btc, &new1), Some(b));
    btc.mine(20).unwrap();
    chain.wait_status(1, S::Finalized, WAIT, || vig.log_tail(30));
    assert_eq!(
        confirming_block(&btc, &tx1),
        None,
        "the old pair never confirmed"
    );
    assert_eq!(confirming_block(&btc, &tx2), None);
    assert!(vig.terminate(Duration::from_secs(30)));
}
