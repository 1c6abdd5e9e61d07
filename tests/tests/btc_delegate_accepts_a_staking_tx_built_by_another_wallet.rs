//! A staker whose wallet is not Ballast's: the staking output is built here with the `bitcoin`
//! crate alone (the NUMS internal key, the timelock, unbonding and slashing leaves written out
//! from PROTOCOL.md, `TaprootBuilder`), and bitcoind's wallet funds and signs it, once as a raw
//! tx (`fundrawtransaction`) and once as a PSBT (`walletcreatefundedpsbt`), with the staking
//! output wherever the wallet put it. `ballastd tx restaking btc-delegate` turns each into a
//! PENDING delegation of `ballastd dev` with the wallet's txid; once the raw tx is mined and its
//! headers are in the light client, `tx restaking add-inclusion-proof` (reading the block from
//! bitcoind, with no wallet named) records its block.
//!
//! Bad input exits 1 with a clear message and registers nothing: bad hex, base64 that is not a
//! PSBT, a wallet tx with no staking output, a staking tx made for another key (wrong key file),
//! a wrong staking time or operator, an unreadable or loosely protected key file.

use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::cli::{json_ok, run as cli};
use ballast_tests::vigilante::DevChain;
use bitcoin::blockdata::opcodes::all::{
    OP_CHECKSIG, OP_CHECKSIGADD, OP_CHECKSIGVERIFY, OP_CSV, OP_NUMEQUAL,
};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{XOnlyPublicKey, SECP256K1};
use bitcoin::taproot::TaprootBuilder;
use bitcoin::{Address, Amount, Network, ScriptBuf, Transaction, TxOut};
use bitcoincore_rpc::RpcApi;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

/// BIP-341's NUMS point, the internal key of every staking output (PROTOCOL.md).
const NUMS: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

fn key(hex_str: &str) -> XOnlyPublicKey {
    XOnlyPublicKey::from_str(hex_str).unwrap()
}

/// `<c1> OP_CHECKSIG <c2> OP_CHECKSIGADD … <cn> OP_CHECKSIGADD <quorum> OP_NUMEQUAL`, keys
/// sorted ascending bytewise, appended to `b`. A committee of one key (the dev chain's) is the
/// single check `<c> OP_CHECKSIG`, as in Babylon's scripts.
fn covenant_multisig(mut b: Builder, keys: &[XOnlyPublicKey], quorum: u32) -> Builder {
    if let [only] = keys {
        return b.push_slice(only.serialize()).push_opcode(OP_CHECKSIG);
    }
    let mut sorted = keys.to_vec();
    sorted.sort_by_key(XOnlyPublicKey::serialize);
    for (i, k) in sorted.iter().enumerate() {
        b = b.push_slice(k.serialize()).push_opcode(if i == 0 {
            OP_CHECKSIG
        } else {
            OP_CHECKSIGADD
        });
    }
    b.push_int(i64::from(quorum)).push_opcode(OP_NUMEQUAL)
}

/// The staking output's script: P2TR under the NUMS key with the tree
/// `[slashing, [unbonding, timelock]]`.
fn staking_script(
    staker: XOnlyPublicKey,
    operator: XOnlyPublicKey,
    covenants: &[XOnlyPublicKey],
    quorum: u32,
    staking_time: u32,
) -> ScriptBuf {
    // <staker> OP_CHECKSIGVERIFY <staking_time> OP_CHECKSEQUENCEVERIFY
    let timelock = Builder::new()
        .push_slice(staker.serialize())
        .push_opcode(OP_CHECKSIGVERIFY)
        .push_int(i64::from(staking_time))
        .push_opcode(OP_CSV)
        .into_script();
    // <staker> OP_CHECKSIGVERIFY, then the covenant multisig.
    let unbonding = covenant_multisig(
        Builder::new()
            .push_slice(staker.serialize())
            .push_opcode(OP_CHECKSIGVERIFY),
        covenants,
        quorum,
    )
    .into_script();
    // <staker> OP_CHECKSIGVERIFY <operator> OP_CHECKSIGVERIFY, then the covenant multisig.
    let slashing = covenant_multisig(
        Builder::new()
            .push_slice(staker.serialize())
            .push_opcode(OP_CHECKSIGVERIFY)
            .push_slice(operator.serialize())
            .push_opcode(OP_CHECKSIGVERIFY),
        covenants,
        quorum,
    )
    .into_script();
    let spend = TaprootBuilder::new()
        .add_leaf(1, slashing)
        .unwrap()
        .add_leaf(2, unbonding)
        .unwrap()
        .add_leaf(2, timelock)
        .unwrap()
        .finalize(SECP256K1, key(NUMS))
        .unwrap();
    ScriptBuf::new_p2tr_tweaked(spend.output_key())
}

/// Common flags of a `ballastd tx` command sent by the dev key.
fn tx_flags(node: &str) -> [&str; 8] {
    [
        "--from",
        "dev",
        "--yes",
        "--keyring-backend",
        "test",
        "--node",
        node,
        "--output",
    ]
}

/// `ballastd tx restaking btc-delegate …` from the dev key; returns the process output.
fn delegate(
    home: &Path,
    node: &str,
    staking_tx: &str,
    btc_key: &Path,
    operator: &str,
    staking_time: u32,
) -> std::process::Output {
    let time = staking_time.to_string();
    let mut args = vec![
        "tx",
        "restaking",
        "btc-delegate",
        "--staking-tx",
        staking_tx,
        "--btc-key",
        btc_key.to_str().unwrap(),
        "--operator",
        operator,
        "--staking-time",
        &time,
    ];
    args.extend(tx_flags(node));
    args.push("json");
    cli(home, &args)
}

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query", "restaking"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// A new BTC key file; returns its x-only public key (hex).
fn keygen(home: &Path, path: &Path) -> String {
    let v = json_ok(home, &["btc", "keygen", "--out", path.to_str().unwrap()]);
    v["public_key"].as_str().unwrap().to_string()
}

/// The first operator of the chain, or one registered now by the dev key.
fn operator(home: &Path, node: &str, dir: &Path) -> String {
    let ops = query(home, node, &["operators"]);
    if let Some(pk) = ops["operators"][0]["btc_pk"].as_str() {
        return pk.to_string();
    }
    let key_file = dir.join("operator_btc_key.json");
    let pk = keygen(home, &key_file);
    let mut args = vec![
        "tx",
        "restaking",
        "register-operator",
        "--btc-key",
        key_file.to_str().unwrap(),
        "--commission",
        "0.05",
        "--moniker",
        "test-operator",
    ];
    args.extend(tx_flags(node));
    args.push("json");
    let out = json_ok(home, &args);
    assert_eq!(out["code"], 0, "{out}");
    assert_eq!(out["btc_pk"], pk.as_str(), "{out}");
    let got = query(home, node, &["operator", &pk]);
    assert_eq!(got["operator"]["btc_pk"], pk.as_str(), "{got}");
    pk
}

/// Asserts that a command failed with exit code 1 (an error, not a panic) and that its stderr
/// says `needle`.
fn assert_refused(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit code 1 with {needle:?}; stdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The delegations of a staker key, as the chain lists them.
fn delegations_of(home: &Path, node: &str, staker: &str) -> Vec<Value> {
    query(home, node, &["btc-delegations", "--staker-btc-pk", staker])["delegations"]
        .as_array()
        .unwrap()
        .clone()
}

/// Relays bitcoind's headers above the light client's tip with `tx btclightclient
/// insert-headers`, in messages of at most the chain's limit.
fn relay_headers(home: &Path, node: &str, btc: &BitcoinD, dir: &Path) {
    let q = |args: &[&str]| {
        let mut all = vec!["query", "btclightclient"];
        all.extend_from_slice(args);
        all.extend(["--node", node, "-o", "json"]);
        json_ok(home, &all)
    };
    let from: u64 = q(&["tip"])["header"]["height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let max: usize = q(&["params"])["params"]["max_headers_per_msg"]
        .as_u64()
        .unwrap_or(100)
        .try_into()
        .unwrap();
    let tip = btc.height().unwrap();
    let heights: Vec<u64> = (from + 1..=tip).collect();
    for chunk in heights.chunks(max.max(1)) {
        let text: Vec<String> = chunk
            .iter()
            .map(|h| {
                let hash = btc.rpc().get_block_hash(*h).unwrap();
                hex::encode(btc.header_bytes(&hash).unwrap())
            })
            .collect();
        let file = dir.join("headers.txt");
        std::fs::write(&file, text.join("\n")).unwrap();
        let mut args = vec![
            "tx",
            "btclightclient",
            "insert-headers",
            "--file",
            file.to_str().unwrap(),
        ];
        args.extend(tx_flags(node));
        args.push("json");
        let out = json_ok(home, &args);
        assert_eq!(out["code"], 0, "{out}");
    }
    let now = q(&["tip"]);
    assert_eq!(now["header"]["height"], tip.to_string(), "{now}");
}

#[test]
fn a_staking_tx_from_bitcoinds_wallet_becomes_a_pending_delegation_and_bad_input_is_refused() {
    let btc = BitcoinD::start().unwrap();
    btc.mine(101).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 300);
    let node = chain.rpc.clone();

    // What the chain stakes under.
    let params = query(&home, &node, &["params"]);
    let p = &params["params"]["btc"];
    let covenants: Vec<XOnlyPublicKey> = p["covenant_pks"]
        .as_array()
        .unwrap_or_else(|| panic!("no covenant committee in {params}"))
        .iter()
        .map(|k| key(k.as_str().unwrap()))
        .collect();
    let quorum = u32::try_from(p["covenant_quorum"].as_u64().unwrap()).unwrap();
    let min_time = u32::try_from(p["min_staking_time"].as_u64().unwrap()).unwrap();
    let max_time = u32::try_from(p["max_staking_time"].as_u64().unwrap()).unwrap();
    let staking_time = (min_time + 100).min(max_time);
    let op = operator(&home, &node, dir.path());

    let staker_file = dir.path().join("staker.json");
    let staker = keygen(&home, &staker_file);
    let script = staking_script(key(&staker), key(&op), &covenants, quorum, staking_time);

    // 1. A raw tx: the wallet adds its inputs and change (at a position of its choosing).
    let template = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![TxOut {
            value: Amount::from_sat(100_000),
            script_pubkey: script.clone(),
        }],
    };
    let raw_tx = btc.fund_and_sign(&template).unwrap();
    let raw_index = raw_tx
        .output
        .iter()
        .position(|o| o.script_pubkey == script)
        .unwrap();
    let sent = delegate(
        &home,
        &node,
        &serialize_hex(&raw_tx),
        &staker_file,
        &op,
        staking_time,
    );
    assert!(
        sent.status.success(),
        "btc-delegate failed:\n{}\n{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    let out: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(out["code"], 0, "{out}");
    let raw_txid = raw_tx.compute_txid().to_string();
    assert_eq!(out["staking_txid"], raw_txid.as_str(), "{out}");
    assert_eq!(out["staking_output_index"], raw_index, "{out}");
    assert_eq!(out["staking_value"], "100000", "{out}");

    let d = query(&home, &node, &["btc-delegation", &raw_txid])["delegation"].clone();
    assert_eq!(d["status"], "PENDING", "{d}");
    assert_eq!(d["staking_txid"], raw_txid.as_str(), "{d}");
    assert_eq!(d["btc_pk"], staker.as_str(), "{d}");
    assert_eq!(d["operator_btc_pk"], op.as_str(), "{d}");
    assert_eq!(d["staking_value"], "100000", "{d}");
    assert_eq!(d["staking_time"], staking_time, "{d}");
    assert_eq!(d["staking_output_index"], raw_index, "{d}");
    assert_eq!(d["covenant_quorum"], quorum, "{d}");
    assert_eq!(d["inclusion_block_hash"], Value::Null, "{d}");
    let stored: Transaction =
        bitcoin::consensus::encode::deserialize_hex(d["staking_tx"].as_str().unwrap()).unwrap();
    assert_eq!(stored.compute_txid(), raw_tx.compute_txid());

    // The wallet's tx is a valid Bitcoin tx: it is accepted and mined.
    btc.rpc().send_raw_transaction(&raw_tx).unwrap();

    // 2. A PSBT from the wallet, signed and finalized, read from a file as base64.
    let address = Address::from_script(&script, Network::Regtest).unwrap();
    let funded: Value = btc
        .rpc()
        .call(
            "walletcreatefundedpsbt",
            &[json!([]), json!([{ address.to_string(): 0.0007 }])],
        )
        .unwrap();
    let processed: Value = btc
        .rpc()
        .call("walletprocesspsbt", &[funded["psbt"].clone()])
        .unwrap();
    assert_eq!(processed["complete"], true, "{processed}");
    let psbt_file = dir.path().join("staking.psbt");
    std::fs::write(&psbt_file, processed["psbt"].as_str().unwrap()).unwrap();
    let psbt_tx: Transaction =
        bitcoin::consensus::encode::deserialize_hex(processed["hex"].as_str().unwrap()).unwrap();
    let sent = delegate(
        &home,
        &node,
        &format!("@{}", psbt_file.display()),
        &staker_file,
        &op,
        staking_time,
    );
    assert!(
        sent.status.success(),
        "btc-delegate of a psbt failed:\n{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let out: Value = serde_json::from_slice(&sent.stdout).unwrap();
    let psbt_txid = psbt_tx.compute_txid().to_string();
    assert_eq!(out["staking_txid"], psbt_txid.as_str(), "{out}");
    assert_eq!(out["staking_value"], "70000", "{out}");
    let d2 = query(&home, &node, &["btc-delegation", &psbt_txid])["delegation"].clone();
    assert_eq!(d2["status"], "PENDING", "{d2}");
    let mine = delegations_of(&home, &node, &staker);
    let mut ids: Vec<&str> = mine
        .iter()
        .map(|d| d["staking_txid"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![raw_txid.as_str(), psbt_txid.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    let pending = query(
        &home,
        &node,
        &["btc-delegations", "--operator", &op, "--status", "pending"],
    );
    assert!(
        pending["delegations"].as_array().unwrap().len() >= 2,
        "{pending}"
    );

    // 3. Bad input: a clear error, exit code 1, nothing registered.
    let raw_hex = serialize_hex(&raw_tx);
    assert_refused(
        &delegate(&home, &node, "zz-not-hex", &staker_file, &op, staking_time),
        "neither hex",
    );
    assert_refused(
        &delegate(&home, &node, "0200", &staker_file, &op, staking_time),
        "not a bitcoin transaction",
    );
    assert_refused(
        &delegate(
            &home,
            &node,
            "aGVsbG8gd29ybGQ=",
            &staker_file,
            &op,
            staking_time,
        ),
        "not a psbt",
    );
    // A wallet tx with no staking output.
    let plain = btc
        .fund_and_sign(&Transaction {
            output: vec![TxOut {
                value: Amount::from_sat(50_000),
                script_pubkey: btc.new_address().unwrap().script_pubkey(),
            }],
            ..template.clone()
        })
        .unwrap();
    assert_refused(
        &delegate(
            &home,
            &node,
            &serialize_hex(&plain),
            &staker_file,
            &op,
            staking_time,
        ),
        "no output of the staking tx pays the staking output",
    );
    // The right tx with another staker's key file, staking time or operator.
    let other_file = dir.path().join("other.json");
    let other = keygen(&home, &other_file);
    let wrong_key = delegate(&home, &node, &raw_hex, &other_file, &op, staking_time);
    assert_refused(&wrong_key, "no output of the staking tx");
    assert_refused(&wrong_key, &other);
    assert_refused(
        &delegate(&home, &node, &raw_hex, &staker_file, &op, staking_time + 1),
        &format!("staking time {}", staking_time + 1),
    );
    assert_refused(
        &delegate(&home, &node, &raw_hex, &staker_file, &other, staking_time),
        "no output of the staking tx",
    );
    // Key files that cannot be used.
    assert_refused(
        &delegate(
            &home,
            &node,
            &raw_hex,
            &dir.path().join("missing.json"),
            &op,
            staking_time,
        ),
        "missing.json",
    );
    let loose = dir.path().join("loose.json");
    std::fs::copy(&staker_file, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_refused(
        &delegate(&home, &node, &raw_hex, &loose, &op, staking_time),
        "chmod 600",
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"secret_key\": \"zz\"}").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_refused(
        &delegate(&home, &node, &raw_hex, &garbage, &op, staking_time),
        "malformed",
    );
    // A delegation is registered once.
    let again = delegate(&home, &node, &raw_hex, &staker_file, &op, staking_time);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a second registration went through"
    );
    assert_eq!(delegations_of(&home, &node, &staker).len(), 2);
    assert!(delegations_of(&home, &node, &other).is_empty());

    // 4. The raw tx is mined and k deep; its headers reach the light client; the inclusion
    // proof is read from bitcoind.
    let k: u64 = p["btc_confirmation_depth"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mined = btc.mine(k + 1).unwrap();
    let block = mined[0];
    let in_block = btc.rpc().get_block(&block).unwrap();
    assert!(in_block
        .txdata
        .iter()
        .any(|t| t.compute_txid() == raw_tx.compute_txid()));
    relay_headers(&home, &node, &btc, dir.path());
    let (user, password) = btc.credentials();
    let rpc_url = btc.rpc_url();
    let mut args = vec![
        "tx",
        "restaking",
        "add-inclusion-proof",
        raw_txid.as_str(),
        // No wallet: the block is found with the node's -txindex.
        "--bitcoin-rpc-url",
        &rpc_url,
        "--bitcoin-rpc-user",
        user,
        "--bitcoin-rpc-password",
        password,
    ];
    args.extend(tx_flags(&node));
    args.push("json");
    let proved = json_ok(&home, &args);
    assert_eq!(proved["code"], 0, "{proved}");
    let d = query(&home, &node, &["btc-delegation", &raw_txid])["delegation"].clone();
    assert_eq!(d["inclusion_block_hash"], block.to_string(), "{d}");
    let height = btc.rpc().get_block_header_info(&block).unwrap().height;
    assert_eq!(d["start_height"], height.to_string(), "{d}");
    assert_eq!(
        d["end_height"],
        (height as u64 + u64::from(staking_time)).to_string(),
        "{d}"
    );
}
