//! A BTC delegation's whole life on a real regtest bitcoind, driven as a staker would drive it:
//! `ballastd dev` (its genesis makes it a restaking operator with a 100 BAL self-bond and sets
//! up a one-member covenant committee, quorum 1), the vigilante's reporter relaying Bitcoin
//! headers to the light client, one `ballast-covenant` signer holding the dev home's covenant
//! key, and the `ballastd` CLI (`btc keygen`, `btc stake`, `tx restaking add-inclusion-proof`,
//! `btc unbond`, `btc withdraw`, `query restaking …`).
//!
//! - `btc stake` funds the staking tx from bitcoind's wallet, registers the delegation and
//!   broadcasts the tx: the delegation is PENDING (no covenant signer runs yet) and the tx is
//!   in bitcoind's mempool.
//! - The covenant signer starts and signs: VERIFIED, with the member's signatures on chain.
//! - The staking tx is mined and k − 1 blocks put on it (k = `btc_confirmation_depth`): the
//!   inclusion proof is refused as too shallow and the delegation stays VERIFIED without power.
//!   One more block: the proof is accepted and the delegation is ACTIVE, with the timelock
//!   window starting at the staking tx's block.
//! - The operator's live power rises by exactly `floor(sat × btc_power_weight)` at once; the
//!   hub set and power snapshot of the epoch the proof landed in still show the old power, and
//!   those of the next epoch end show the new one, which FinalizeBlock returns as a validator
//!   update in that epoch's last block.
//! - `btc unbond` broadcasts the covenant-signed unbonding tx (it spends the staking output
//!   and pays `staking_value − unbonding_fee_sat`) and sends MsgBtcUndelegate: UNBONDING at
//!   once, recording the light client's tip; the live power drops at once and the hub set at
//!   the next epoch end.
//! - The unbonding tx is mined. One block short of `unbonding_btc_height + unbonding_time` the
//!   delegation is still UNBONDING; at that height it is UNBONDED, and the power stays dropped.
//! - `btc withdraw` then spends the unbonding output through its timelock leaf; it confirms.
//! - The blocks' events show the lifecycle in order: created PENDING, then PENDING → VERIFIED →
//!   ACTIVE → UNBONDING → UNBONDED at the hub heights above.
//!
//! Parameters: the dev genesis defaults, nothing shrunk (k = 6, unbonding time 200 blocks,
//! min staking time 400; regtest mines 200 blocks in about a second). The staking time is 1,000
//! blocks, so the delegation never comes near expiry. Runtime about a minute.
//!
//! Needs `ballastd`, `ballast-vigilante` and `ballast-covenant` built (`cargo build -p ballastd
//! -p ballast-vigilante -p ballast-covenant`). Without a bitcoind (the install script fails) it
//! prints "skipped: …".

// A test, not consensus code: it waits on processes with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::bitcoind::BitcoinD;
use ballast_tests::btc_staking::{
    bitcoind_flags, bitcoind_or_skip, file_tail, hub_height, key_file_public_key, restaking_events,
    weighted_floor, CovenantSigner, CovenantSignerConfig, StakingCli,
};
use ballast_tests::checkpoint_rpc::wait_for_height;
use ballast_tests::vigilante::{
    chain_id, confirming_block, in_mempool, DevChain, Vigilante, VigilanteConfig,
};
use bitcoin::{Transaction, Txid};
use bitcoincore_rpc::RpcApi;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
/// Satoshis staked: 0.05 BTC.
const STAKE_SAT: u64 = 5_000_000;
/// The staking timelock, in Bitcoin blocks.
const STAKING_TIME: u32 = 1_000;

fn num(v: &serde_json::Value, k: &str) -> u64 {
    match &v[k] {
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{k} in {v}: {e}")),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or_else(|| panic!("{k} in {v}")),
        _ => panic!("no number {k} in {v}"),
    }
}

fn decode_tx(hex_tx: &str) -> Transaction {
    bitcoin::consensus::deserialize(&hex::decode(hex_tx).expect("hex"))
        .expect("a Bitcoin transaction")
}

fn block_height(btc: &BitcoinD, hash: &bitcoin::BlockHash) -> u64 {
    btc.rpc().get_block_header_info(hash).unwrap().height as u64
}

#[test]
fn btc_delegation_goes_active_and_unbonds_on_a_real_bitcoind() {
    let Some(btc) = bitcoind_or_skip("btc_delegation_goes_active_and_unbonds_on_a_real_bitcoind")
    else {
        return;
    };
    // 110 blocks: mature coinbases for the staking tx.
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 200);
    let cli = StakingCli::new(&home, &chain.rpc);

    // The params the dev genesis sets: one covenant key (the home's), quorum 1.
    let params = cli.restaking_params();
    let bp = &params["btc"];
    let covenant_pk = key_file_public_key(&home.join("config/covenant_key.json"));
    assert_eq!(
        bp["covenant_pks"],
        serde_json::json!([covenant_pk]),
        "{params}"
    );
    assert_eq!(bp["covenant_quorum"], 1, "{params}");
    let k = num(bp, "btc_confirmation_depth");
    let unbonding_time = num(bp, "unbonding_time");
    let unbonding_fee = num(bp, "unbonding_fee_sat");
    assert!(num(bp, "min_staking_value_sat") <= STAKE_SAT);
    assert!(STAKE_SAT <= num(bp, "max_staking_value_sat"));
    assert!(num(bp, "min_staking_time") <= u64::from(STAKING_TIME));
    assert!(u64::from(STAKING_TIME) > k + 2 * unbonding_time + 10);
    let weight = params["btc_power_weight"].as_str().unwrap().to_string();
    let delta = u64::try_from(weighted_floor(u128::from(STAKE_SAT), &weight)).unwrap();
    assert!(
        delta > 0,
        "{STAKE_SAT} sat at weight {weight} gives no power"
    );

    // The dev operator: the home's operator key, self-bonded, no BTC yet.
    let ops = cli.query_ok(&["query", "restaking", "operators"]);
    let operators = ops["operators"].as_array().unwrap();
    assert_eq!(operators.len(), 1, "{ops}");
    let op = operators[0]["btc_pk"].as_str().unwrap().to_string();
    let op_consensus = operators[0]["consensus_pubkey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        op,
        key_file_public_key(&home.join("config/operator_btc_key.json"))
    );
    let p0 = cli.operator_power(&op, None);
    assert_eq!(p0.btc_sat, 0);
    assert!(p0.power > 0);
    assert_eq!(cli.hub_set(None).powers.get(&op), Some(&p0.power));

    // A staker account of its own (the vigilante pays with `dev`, the covenant signer with
    // `operator`), funded before the vigilante starts sending from `dev`.
    let staker = cli.json_ok(&[
        "keys",
        "add",
        "staker",
        "--keyring-backend",
        "test",
        "-o",
        "json",
    ]);
    let staker_addr = staker["address"].as_str().unwrap().to_string();
    cli.tx_ok(&["tx", "bank", "send", "dev", &staker_addr, "1000000000ubal"]);

    // The reporter keeps the light client on bitcoind's chain (no checkpoint submissions).
    let mut vcfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    vcfg.submitter = false;
    let vig_config = dir.path().join("vigilante.toml");
    vcfg.write(&vig_config);
    let mut vig = Vigilante::start(&vig_config, &[]);
    chain.wait_lc_tip(&btc, WAIT, || vig.log_tail(30));

    // The staker's BTC key.
    let key_path = dir.path().join("staker_btc_key.json");
    let keygen = cli.json_ok(&["btc", "keygen", "--out", key_path.to_str().unwrap()]);
    let staker_pk = keygen["public_key"].as_str().unwrap().to_string();
    assert_eq!(staker_pk, key_file_public_key(&key_path));

    let bflags = bitcoind_flags(&btc);
    let bflags: Vec<&str> = bflags.iter().map(String::as_str).collect();
    let key_arg = key_path.to_str().unwrap();
    let covenant_dir = dir.path().join("covenant");
    let covenant_log = covenant_dir.join("covenant.log");
    let dev_log = chain.node.log_path.clone();
    let vig_log = vig.log_path.clone();
    let context_for = |txid: &str| {
        let cli = cli.clone();
        let (txid, covenant_log, dev_log, vig_log) = (
            txid.to_string(),
            covenant_log.clone(),
            dev_log.clone(),
            vig_log.clone(),
        );
        move || {
            format!(
                "delegation {txid}: {}\n--- covenant log tail:\n{}\n--- vigilante log tail:\n{}\n--- ballastd dev log tail:\n{}",
                cli.status(&txid),
                file_tail(&covenant_log, 20),
                file_tail(&vig_log, 20),
                file_tail(&dev_log, 20)
            )
        }
    };

    // Stake: registered, then broadcast; no covenant signer runs yet, so it is PENDING.
    let stake_sat = STAKE_SAT.to_string();
    let staking_time = STAKING_TIME.to_string();
    let mut args = vec![
        "btc",
        "stake",
        "--amount",
        &stake_sat,
        "--operator",
        &op,
        "--staking-time",
        &staking_time,
        "--btc-key",
        key_arg,
        "--from",
        "staker",
        "--fee-rate",
        "2",
    ];
    args.extend(&bflags);
    let stake = cli.tx(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stake["delegation_tx"]["code"], 0, "{stake}");
    assert!(stake["inclusion_proof_tx"].is_null(), "{stake}");
    let txid_s = stake["staking_txid"].as_str().unwrap().to_string();
    let staking_txid: Txid = txid_s.parse().unwrap();
    let ctx = context_for(&txid_s);
    let created_height = num(&stake["delegation_tx"], "height");
    assert!(
        in_mempool(&btc, &staking_txid),
        "the staking tx is not in bitcoind's mempool"
    );
    let out_index = u32::try_from(num(&stake, "staking_output_index")).unwrap();
    let d = cli.delegation(&txid_s).unwrap();
    assert_eq!(d["status"], "PENDING", "{d}");
    assert_eq!(d["staker_addr"], staker_addr.as_str());
    assert_eq!(d["btc_pk"], staker_pk.as_str());
    assert_eq!(d["operator_btc_pk"], op.as_str());
    assert_eq!(num(&d, "staking_value"), STAKE_SAT);
    assert_eq!(num(&d, "staking_time"), u64::from(STAKING_TIME));
    assert_eq!(d["covenant_sigs"], serde_json::json!([]));
    // The tx on chain is the one bitcoind holds, and its output carries the stake.
    let on_chain = decode_tx(d["staking_tx"].as_str().unwrap());
    assert_eq!(on_chain.compute_txid(), staking_txid);
    let in_btc = btc.rpc().get_raw_transaction(&staking_txid, None).unwrap();
    assert_eq!(
        in_btc.output[out_index as usize].value.to_sat(),
        STAKE_SAT,
        "staking output"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(cli.status(&txid_s), "PENDING", "nobody signs yet");
    assert_eq!(cli.operator_power(&op, None), p0);

    // The covenant signer (the dev home's covenant key, paying with `operator`) signs it.
    let mut covenant = CovenantSigner::start(
        &covenant_dir,
        &CovenantSignerConfig {
            ballast_rpc: chain.rpc.clone(),
            ballast_grpc: chain.grpc.clone(),
            chain_id: chain_id(&home),
            keyring_dir: home.clone(),
            key_name: "operator".into(),
            key_file: home.join("config/covenant_key.json"),
            poll_interval_ms: 300,
        },
    );
    covenant.wait_log(&["added covenant signatures", &txid_s], WAIT, &ctx);
    let d = cli.wait_status(&txid_s, "VERIFIED", WAIT, &ctx);
    let sigs = d["covenant_sigs"].as_array().unwrap();
    assert_eq!(sigs.len(), 1, "{d}");
    assert_eq!(sigs[0]["covenant_pk"], covenant_pk.as_str());
    assert_eq!(cli.operator_power(&op, None), p0, "VERIFIED has no power");

    // The staking tx is mined, k − 1 blocks on it: one block too shallow.
    let blocks = btc.mine(k).unwrap();
    let staking_block = blocks[0];
    assert_eq!(confirming_block(&btc, &staking_txid), Some(staking_block));
    let staking_height = block_height(&btc, &staking_block);
    chain.wait_lc_tip(&btc, WAIT, &ctx);
    let mut proof_args = vec![
        "tx",
        "restaking",
        "add-inclusion-proof",
        &txid_s,
        "--from",
        "staker",
    ];
    proof_args.extend(&bflags);
    let refused = cli
        .tx(&proof_args)
        .expect_err("a proof k − 1 deep must be refused");
    assert!(
        refused.contains(&format!("{} blocks deep", k - 1))
            && refused.contains(&format!("expected at least {k}")),
        "expected the too-shallow refusal (restaking 57):\n{refused}"
    );
    assert_eq!(cli.status(&txid_s), "VERIFIED");
    assert_eq!(cli.operator_power(&op, None), p0);

    // One more block: k deep. The proof is accepted and the delegation is ACTIVE at once.
    btc.mine(1).unwrap();
    chain.wait_lc_tip(&btc, WAIT, &ctx);
    let proof = cli.tx_ok(&proof_args);
    let h_act = num(&proof, "height");
    let d = cli.delegation(&txid_s).unwrap();
    assert_eq!(d["status"], "ACTIVE", "{d}\n{}", ctx());
    assert_eq!(num(&d, "start_height"), staking_height);
    assert_eq!(
        num(&d, "end_height"),
        staking_height + u64::from(STAKING_TIME)
    );
    assert_eq!(d["inclusion_block_hash"], staking_block.to_string());

    // Live power: up by floor(sat × weight) at once, the BTC counted.
    let p1 = cli.operator_power(&op, None);
    assert_eq!(
        p1.power,
        p0.power + delta,
        "live power after activation: {p1:?}, before {p0:?}, delta {delta}"
    );
    assert_eq!(p1.btc_sat, STAKE_SAT);
    assert_eq!(cli.operator_power(&op, Some(h_act - 1)), p0);
    // The hub set changes only at the end of the epoch the proof landed in.
    let before = cli.hub_set(Some(h_act - 1));
    assert_eq!(before.powers.get(&op), Some(&p0.power), "{before:?}");
    let e0 = before.epoch;
    let (snap0, _) = cli.power_snapshot(e0);
    assert_eq!(snap0.get(&op), Some(&p0), "snapshot of epoch {e0}");
    let after = cli.wait_hub_epoch(e0 + 1, WAIT, &ctx);
    assert_eq!(
        after.powers.get(&op),
        Some(&(p0.power + delta)),
        "hub set of epoch {}: {after:?}",
        after.epoch
    );
    let (snap1, total1) = cli.power_snapshot(e0 + 1);
    assert_eq!(snap1.get(&op), Some(&p1), "snapshot of epoch {}", e0 + 1);
    assert_eq!(total1, p0.power + delta);

    // Unbond: the unbonding tx goes to bitcoind, MsgBtcUndelegate to Ballast.
    let btc_tip_at_unbond = btc.height().unwrap();
    let mut unbond_args = vec![
        "btc",
        "unbond",
        "--staking-txid",
        &txid_s,
        "--btc-key",
        key_arg,
        "--from",
        "staker",
    ];
    unbond_args.extend(&bflags);
    let unbond = cli.tx_ok(&unbond_args);
    let h_unb = num(&unbond, "height");
    let unbonding_txid: Txid = unbond["unbonding_txid"].as_str().unwrap().parse().unwrap();
    let d = cli.delegation(&txid_s).unwrap();
    assert_eq!(d["status"], "UNBONDING", "{d}\n{}", ctx());
    assert_eq!(num(&d, "unbonding_btc_height"), btc_tip_at_unbond);
    assert_eq!(
        decode_tx(d["unbonding_tx"].as_str().unwrap()).compute_txid(),
        unbonding_txid,
        "the broadcast unbonding tx is the registered one"
    );
    assert!(
        in_mempool(&btc, &unbonding_txid),
        "the unbonding tx is not in bitcoind's mempool"
    );
    let unbonding_tx = btc
        .rpc()
        .get_raw_transaction(&unbonding_txid, None)
        .unwrap();
    assert_eq!(unbonding_tx.input.len(), 1);
    assert_eq!(
        unbonding_tx.input[0].previous_output,
        bitcoin::OutPoint::new(staking_txid, out_index)
    );
    assert_eq!(unbonding_tx.output.len(), 1);
    assert_eq!(
        unbonding_tx.output[0].value.to_sat(),
        STAKE_SAT - unbonding_fee
    );
    // The live power drops at once; the hub set at the next epoch end.
    assert_eq!(cli.operator_power(&op, None), p0);
    let before = cli.hub_set(Some(h_unb - 1));
    assert_eq!(before.powers.get(&op), Some(&(p0.power + delta)));
    let u0 = before.epoch;
    let after = cli.wait_hub_epoch(u0 + 1, WAIT, &ctx);
    assert_eq!(after.powers.get(&op), Some(&p0.power), "{after:?}");
    let (snap, _) = cli.power_snapshot(u0 + 1);
    assert_eq!(snap.get(&op), Some(&p0), "snapshot of epoch {}", u0 + 1);

    // The unbonding tx is mined.
    let b = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &unbonding_txid), Some(b));
    // One block short of the unbonding time: still UNBONDING.
    let unbonded_at = btc_tip_at_unbond + unbonding_time;
    let now = btc.height().unwrap();
    btc.mine(unbonded_at - 1 - now).unwrap();
    chain.wait_lc_tip(&btc, WAIT, &ctx);
    wait_for_height(&chain.rpc, hub_height(&chain.rpc) + 3, WAIT);
    assert_eq!(
        cli.status(&txid_s),
        "UNBONDING",
        "at BTC height {}",
        unbonded_at - 1
    );
    // At unbonding_btc_height + unbonding_time: UNBONDED.
    btc.mine(1).unwrap();
    chain.wait_lc_tip(&btc, WAIT, &ctx);
    cli.wait_status(&txid_s, "UNBONDED", WAIT, &ctx);
    assert_eq!(cli.operator_power(&op, None), p0);
    wait_for_height(&chain.rpc, hub_height(&chain.rpc) + 12, WAIT);
    assert_eq!(cli.hub_set(None).powers.get(&op), Some(&p0.power));

    // The unbonding output's timelock has passed: withdraw it to the wallet.
    let to = btc.new_address().unwrap().to_string();
    let mut withdraw_args = vec![
        "btc",
        "withdraw",
        "--staking-txid",
        &txid_s,
        "--btc-key",
        key_arg,
        "--to",
        &to,
    ];
    withdraw_args.extend(&bflags);
    let w = cli.query_ok(&withdraw_args);
    assert_eq!(w["spent"], format!("{unbonding_txid}:0"), "{w}");
    assert_eq!(w["spent_output"], "unbonding output", "{w}");
    let wtxid: Txid = w["txid"].as_str().unwrap().parse().unwrap();
    let wb = btc.mine(1).unwrap()[0];
    assert_eq!(confirming_block(&btc, &wtxid), Some(wb));
    assert_eq!(num(&w, "value") + num(&w, "fee"), STAKE_SAT - unbonding_fee);

    // The lifecycle as the blocks' events tell it.
    let last = hub_height(&chain.rpc);
    let events = restaking_events(&chain.rpc, created_height, last);
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.attrs.get("staking_txid") == Some(&txid_s))
        .collect();
    let created: Vec<_> = mine
        .iter()
        .filter(|e| e.kind == "restaking.btc_delegation_created")
        .collect();
    assert_eq!(created.len(), 1, "{mine:#?}");
    assert_eq!(created[0].height, created_height);
    assert_eq!(created[0].attrs["status"], "PENDING");
    let transitions: Vec<(String, String, u64)> = mine
        .iter()
        .filter(|e| e.kind == "restaking.btc_delegation_status")
        .map(|e| (e.attrs["from"].clone(), e.attrs["to"].clone(), e.height))
        .collect();
    let steps: Vec<(&str, &str)> = transitions
        .iter()
        .map(|(f, t, _)| (f.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("PENDING", "VERIFIED"),
            ("VERIFIED", "ACTIVE"),
            ("ACTIVE", "UNBONDING"),
            ("UNBONDING", "UNBONDED"),
        ],
        "{transitions:?}"
    );
    assert_eq!(transitions[1].2, h_act);
    assert_eq!(transitions[2].2, h_unb);
    // The hub set changed twice for this validator, each time in the last block of an epoch.
    let updates: Vec<_> = events
        .iter()
        .filter(|e| {
            e.kind == "restaking.validator_update"
                && e.attrs.get("consensus_pubkey") == Some(&op_consensus)
        })
        .collect();
    let got: Vec<(u64, u64)> = updates
        .iter()
        .map(|e| {
            (
                e.attrs["epoch"].parse().unwrap(),
                e.attrs["power"].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(e0 + 1, p0.power + delta), (u0 + 1, p0.power)],
        "{updates:#?}"
    );
    for u in &updates {
        let epoch: u64 = u.attrs["epoch"].parse().unwrap();
        assert_eq!(cli.hub_set(Some(u.height)).epoch, epoch);
        assert_eq!(cli.hub_set(Some(u.height - 1)).epoch, epoch - 1);
    }

    eprintln!(
        "delegation {txid_s}: {STAKE_SAT} sat, operator power {} -> {} (hub set of epoch {}) -> {} \
         (epoch {}); ACTIVE at hub height {h_act}, UNBONDING at {h_unb}, UNBONDED at BTC height \
         {unbonded_at}; withdrawn in {wtxid}",
        p0.power,
        p0.power + delta,
        e0 + 1,
        p0.power,
        u0 + 1
    );
    assert!(
        covenant.terminate(Duration::from_secs(30)),
        "{}",
        covenant.log_tail(20)
    );
    assert!(
        vig.terminate(Duration::from_secs(30)),
        "{}",
        vig.log_tail(20)
    );
}
