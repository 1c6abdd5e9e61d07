//! The regtest harness against a real bitcoind (Bitcoin Knots): mining, Knots' OP_RETURN policy
//! (80 data bytes accepted, 81 rejected, OP_RETURN-only rejected), a reorg with
//! `invalidateblock`, a restart that keeps the chain, and two nodes at once.

use std::time::Duration;

use ballast_tests::bitcoind::{rpc_error, BitcoinD};
use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use bitcoincore_rpc::RpcApi;

fn op_return(data: &[u8]) -> ScriptBuf {
    ScriptBuf::new_op_return(PushBytesBuf::try_from(data.to_vec()).unwrap())
}

/// A tx with no inputs and one OP_RETURN output, for the wallet to fund.
fn op_return_template(data: &[u8]) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: op_return(data),
        }],
    }
}

/// Sends `tx` and returns the node's rejection (code, message); panics if it was accepted.
fn rejection(node: &BitcoinD, tx: &Transaction) -> (i32, String) {
    let err = node
        .rpc()
        .send_raw_transaction(tx)
        .expect_err("the node should reject this tx");
    let (code, msg) =
        rpc_error(&err).unwrap_or_else(|| panic!("expected an RPC rejection, found {err}"));
    (code, msg.to_string())
}

fn in_mempool(node: &BitcoinD, txid: &Txid) -> bool {
    node.rpc().get_raw_mempool().unwrap().contains(txid)
}

/// The block `txid` is confirmed in (from the tx index), if any.
fn confirming_block(node: &BitcoinD, txid: &Txid) -> Option<bitcoin::BlockHash> {
    let info: serde_json::Value = node
        .rpc()
        .call(
            "getrawtransaction",
            &[serde_json::json!(txid.to_string()), serde_json::json!(true)],
        )
        .unwrap();
    info["blockhash"].as_str().map(|h| h.parse().unwrap())
}

#[test]
fn harness_mines_enforces_op_return_policy_reorgs_and_restarts() {
    let mut node = BitcoinD::start().unwrap();
    let pid = node.pid().expect("a started node has a pid");
    assert_eq!(node.height().unwrap(), 0);

    // Mining: 101 blocks make the first coinbase spendable.
    let mined = node.mine(101).unwrap();
    assert_eq!(mined.len(), 101);
    assert_eq!(node.height().unwrap(), 101);
    assert_eq!(node.tip().unwrap(), *mined.last().unwrap());
    let balance = node.rpc().get_balance(None, None).unwrap();
    assert_eq!(balance, Amount::from_sat(50 * 100_000_000));

    // header_bytes: 80 bytes that hash to the block hash and link to the previous block.
    let header = node.header_bytes(&mined[100]).unwrap();
    assert_eq!(
        bitcoin::BlockHash::hash(&header),
        mined[100],
        "the header bytes hash to the block hash"
    );
    assert_eq!(&header[4..36], mined[99].as_byte_array());
    assert_eq!(
        header.to_vec(),
        serialize(&node.rpc().get_block_header(&mined[100]).unwrap())
    );

    // 80 OP_RETURN data bytes plus change: accepted and mined.
    let data80 = [0xb7u8; 80];
    let tx = node.fund_and_sign(&op_return_template(&data80)).unwrap();
    assert_eq!(tx.output.len(), 2, "the OP_RETURN output plus change");
    assert!(tx
        .output
        .iter()
        .any(|o| o.script_pubkey == op_return(&data80)));
    let txid = node.rpc().send_raw_transaction(&tx).unwrap();
    assert_eq!(txid, tx.compute_txid());
    assert!(in_mempool(&node, &txid));
    let block = node.mine(1).unwrap()[0];
    assert!(!in_mempool(&node, &txid));
    assert_eq!(confirming_block(&node, &txid), Some(block));

    // 81 OP_RETURN data bytes: rejected by policy.
    let tx81 = node
        .fund_and_sign(&op_return_template(&[0xb7u8; 81]))
        .unwrap();
    let (code, msg) = rejection(&node, &tx81);
    assert_eq!(code, -26, "rejected as invalid for the mempool: {msg}");
    assert!(msg.contains("scriptpubkey"), "found {msg:?}");

    // A tx whose only output is OP_RETURN: rejected by Knots' policy. It spends a small wallet
    // output so that the rest of the input is a plausible fee.
    let small_addr = node.new_address().unwrap();
    let small_txid = node
        .rpc()
        .send_to_address(
            &small_addr,
            Amount::from_sat(20_000),
            None,
            None,
            None,
            None,
            None,
            None,
        )
        .unwrap();
    let small_block = node.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&node, &small_txid), Some(small_block));
    let small_tx = node.rpc().get_raw_transaction(&small_txid, None).unwrap();
    let vout = small_tx
        .output
        .iter()
        .position(|o| o.script_pubkey == small_addr.script_pubkey())
        .expect("the payment output is in the tx") as u32;
    let only_op_return = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(small_txid, vout),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: op_return(&data80),
        }],
    };
    let signed = node.sign(&serialize(&only_op_return)).unwrap();
    let (code, msg) = rejection(&node, &signed);
    assert_eq!(code, -26, "rejected as invalid for the mempool: {msg}");
    assert!(msg.contains("bare-datacarrier"), "found {msg:?}");

    // A reorg: invalidating the block with the 80-byte tx (and so its child) puts the tx back in
    // the mempool; three new blocks make a longer branch that confirms it again.
    node.invalidate(&block).unwrap();
    assert_eq!(node.tip().unwrap(), mined[100]);
    assert_eq!(node.height().unwrap(), 101);
    assert!(
        in_mempool(&node, &txid),
        "the tx returns to the mempool when its block is disconnected"
    );
    assert_eq!(confirming_block(&node, &txid), None);
    let branch = node.mine(3).unwrap();
    assert_eq!(node.tip().unwrap(), branch[2]);
    assert_ne!(branch[0], block);
    assert!(!in_mempool(&node, &txid));
    assert_eq!(confirming_block(&node, &txid), Some(branch[0]));
    // Reconsidering the old, shorter branch does not move the tip back.
    node.reconsider(&block).unwrap();
    assert_eq!(node.tip().unwrap(), branch[2]);
    let old: serde_json::Value = node
        .rpc()
        .call(
            "getblockheader",
            &[serde_json::json!(small_block.to_string())],
        )
        .unwrap();
    assert_eq!(
        old["confirmations"], -1,
        "the old block is off the best chain"
    );

    // A restart keeps the chain, the ports and the wallet.
    let (tip, height, url) = (node.tip().unwrap(), node.height().unwrap(), node.rpc_url());
    node.restart().unwrap();
    assert_ne!(node.pid(), Some(pid), "a new process");
    assert_eq!(node.rpc_url(), url);
    assert_eq!(node.tip().unwrap(), tip);
    assert_eq!(node.height().unwrap(), height);
    assert_eq!(confirming_block(&node, &txid), Some(branch[0]));
    assert!(node.rpc().get_balance(None, None).unwrap() > Amount::ZERO);
    let after = node.mine(1).unwrap()[0];
    assert_eq!(node.height().unwrap(), height + 1);
    assert_eq!(node.tip().unwrap(), after);

    // A crash (SIGKILL by pid) then a start on the same datadir keeps the chain up to the last
    // block bitcoind flushed; the tip is at least the pre-restart one.
    node.kill();
    assert_eq!(node.pid(), None);
    node.restart().unwrap();
    assert!(node.height().unwrap() >= height);

    node.stop().unwrap();
    assert_eq!(node.pid(), None);
    assert!(
        node.rpc().get_block_count().is_err(),
        "a stopped node does not answer"
    );
}

#[test]
fn two_nodes_run_at_once_and_sync_over_p2p() {
    let a = BitcoinD::start().unwrap();
    let b = BitcoinD::start().unwrap();
    assert_ne!(a.pid(), b.pid());
    assert_ne!(a.rpc_port(), b.rpc_port());
    assert_ne!(a.p2p_port(), b.p2p_port());
    assert_ne!(a.datadir(), b.datadir());

    // Independent chains first: each node mines its own blocks.
    let a_blocks = a.mine(5).unwrap();
    let b_blocks = b.mine(2).unwrap();
    assert_eq!(a.height().unwrap(), 5);
    assert_eq!(b.height().unwrap(), 2);
    assert_ne!(a_blocks[0], b_blocks[0]);

    // Connected, b reorgs onto a's longer chain.
    b.connect(&a).unwrap();
    b.wait_for_tip(&a_blocks[4], Duration::from_secs(30))
        .unwrap();
    assert_eq!(b.height().unwrap(), 5);
}
