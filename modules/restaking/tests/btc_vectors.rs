//! The BTC staking library reproduces every reference vector in
//! `shared/vectors/btc-staking/` (made by Babylon's own staking library) byte for byte:
//! scripts, output scripts, addresses, output keys, merkle roots, control blocks, and the
//! staking, unbonding and slashing transactions. Every `*.json` file there is checked.

use std::path::PathBuf;

use ballast_restaking::btc::params::{parse_network, parse_xonly_hex, BtcStakingParams};
use ballast_restaking::btc::scripts::{
    Leaf, SlashingChangeInfo, StakingInfo, StakingScripts, TaprootOutputInfo, UnbondingInfo,
};
use ballast_restaking::btc::staking_tx::{build_staking_tx, FundingUtxo};
use ballast_restaking::btc::txs::{
    build_slashing_tx, build_unbonding_tx, decode_tx, validate_delegation_txs, DelegationTxs,
};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use bitcoin::{Network, OutPoint, ScriptBuf, Txid};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/btc-staking")
}

fn vector_files() -> Vec<PathBuf> {
    let dir = vectors_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
}

/// The params as the vector gives them; the slashing rate is kept as the JSON number's text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParams {
    covenant_quorum: u32,
    staking_time: u32,
    unbonding_time: u32,
    unbonding_fee_sat: u64,
    slashing_rate: Box<RawValue>,
    min_slashing_tx_fee_sat: u64,
    slashing_pk_script_hex: String,
    staking_amount_sat: u64,
    fee_rate: u64,
}

#[derive(Deserialize)]
struct ParamsOnly {
    params: RawParams,
}

struct Vector {
    name: String,
    json: Value,
    raw: RawParams,
    network: Network,
    staker: XOnlyPublicKey,
    operators: Vec<XOnlyPublicKey>,
    params: BtcStakingParams,
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vector field {path} is a string"))
}

fn u64_at(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("vector field {path} is an integer"))
}

fn keys_at(v: &Value, path: &str, what: &'static str) -> Vec<XOnlyPublicKey> {
    v.pointer(path)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("vector field {path} is an array"))
        .iter()
        .map(|k| parse_xonly_hex(what, k.as_str().expect("hex key")).expect("valid key"))
        .collect()
}

fn load(path: &PathBuf) -> Vector {
    let text = std::fs::read_to_string(path).expect("read vector");
    let json: Value = serde_json::from_str(&text).expect("vector is json");
    let raw = serde_json::from_str::<ParamsOnly>(&text)
        .expect("vector params")
        .params;
    let network = parse_network(str_at(&json, "/network")).expect("known network");
    let staker = parse_xonly_hex("staker", str_at(&json, "/keys/stakerPk")).expect("staker");
    let operators = keys_at(&json, "/keys/fpPks", "operator");
    let params = BtcStakingParams {
        covenant_pks: keys_at(&json, "/keys/covenantPks", "covenant"),
        covenant_quorum: raw.covenant_quorum,
        // The vectors give one staking value and time; the bounds are exactly those.
        min_staking_value_sat: raw.staking_amount_sat,
        max_staking_value_sat: raw.staking_amount_sat,
        min_staking_time: raw.staking_time,
        max_staking_time: raw.staking_time,
        unbonding_time: raw.unbonding_time,
        unbonding_fee_sat: raw.unbonding_fee_sat,
        slashing_rate: raw.slashing_rate.get().parse().expect("slashing rate"),
        min_slashing_tx_fee_sat: raw.min_slashing_tx_fee_sat,
        slashing_pk_script: ScriptBuf::from_bytes(
            hex::decode(&raw.slashing_pk_script_hex).expect("hex"),
        ),
    };
    Vector {
        name: path.file_name().expect("file").to_string_lossy().into(),
        json,
        raw,
        network,
        staker,
        operators,
        params,
    }
}

/// Compares an output's script, address, output key, merkle root and control blocks with
/// the vector's section, and that the section lists exactly the tree's leaves.
fn check_output(v: &Vector, section: &str, info: &TaprootOutputInfo) {
    let at = |f: &str| str_at(&v.json, &format!("/{section}/{f}")).to_string();
    let ctx = format!("{} {section}", v.name);
    assert_eq!(
        hex::encode(info.script_pubkey().as_bytes()),
        at("scriptPubKey"),
        "{ctx}"
    );
    assert_eq!(info.address(v.network).to_string(), at("address"), "{ctx}");
    assert_eq!(
        hex::encode(info.output_key().to_x_only_public_key().serialize()),
        at("outputKey"),
        "{ctx}"
    );
    assert_eq!(
        hex::encode(info.merkle_root().to_byte_array()),
        at("merkleRoot"),
        "{ctx}"
    );
    let blocks = v
        .json
        .pointer(&format!("/{section}/controlBlocks"))
        .and_then(Value::as_object)
        .expect("controlBlocks");
    assert_eq!(blocks.len(), info.leaves().count(), "{ctx}: leaf count");
    for (leaf, _) in info.leaves() {
        let expected = blocks
            .get(leaf.name())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{ctx}: no control block for {}", leaf.name()));
        assert_eq!(
            hex::encode(info.control_block(leaf).expect("in tree").serialize()),
            expected,
            "{ctx}: control block of {}",
            leaf.name()
        );
    }
}

#[test]
fn the_secret_keys_match_the_public_keys() {
    for path in vector_files() {
        let v = load(&path);
        let pairs = [
            ("/keys/stakerSk", "/keys/stakerPk"),
            ("/keys/fpSks", "/keys/fpPks"),
            ("/keys/covenantSks", "/keys/covenantPks"),
        ];
        for (sks, pks) in pairs {
            let as_list = |p: &str| -> Vec<String> {
                match v.json.pointer(p).expect("key field") {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().expect("hex").to_string())
                        .collect(),
                    other => panic!("{p}: unexpected {other}"),
                }
            };
            let (sks, pks) = (as_list(sks), as_list(pks));
            assert_eq!(sks.len(), pks.len(), "{}", v.name);
            assert!(!sks.is_empty(), "{}", v.name);
            for (sk, pk) in sks.iter().zip(&pks) {
                let sk = SecretKey::from_slice(&hex::decode(sk).expect("hex")).expect("sk");
                let derived = sk.x_only_public_key(SECP256K1).0;
                assert_eq!(hex::encode(derived.serialize()), *pk, "{}", v.name);
            }
        }
    }
}

#[test]
fn scripts_trees_and_transactions_match_every_vector() {
    for path in vector_files() {
        let v = load(&path);
        let name = &v.name;
        v.params.validate().expect("vector params are valid");
        let p = &v.params;

        // The four leaves.
        let scripts = StakingScripts::new(
            &v.staker,
            &v.operators,
            &p.covenant_pks,
            p.covenant_quorum,
            v.raw.staking_time,
            p.unbonding_time,
        )
        .expect("scripts");
        for (field, script) in [
            ("timelockScript", &scripts.timelock),
            ("unbondingScript", &scripts.unbonding),
            ("slashingScript", &scripts.slashing),
            ("unbondingTimelockScript", &scripts.unbonding_timelock),
        ] {
            assert_eq!(
                hex::encode(script.as_bytes()),
                str_at(&v.json, &format!("/scripts/{field}")),
                "{name} {field}"
            );
        }

        // The three outputs.
        let amount = v.raw.staking_amount_sat;
        let staking =
            StakingInfo::from_params(p, v.staker, &v.operators, v.raw.staking_time, amount)
                .expect("staking output");
        assert_eq!(
            staking.leaf(Leaf::Slashing).expect("leaf"),
            scripts.slashing.as_script()
        );
        check_output(&v, "stakingOutput", &staking);
        let unbonding_value = amount - p.unbonding_fee_sat;
        let unbonding = UnbondingInfo::from_params(p, v.staker, &v.operators, unbonding_value)
            .expect("unbonding output");
        check_output(&v, "unbondingOutput", &unbonding);
        let change = SlashingChangeInfo::from_params(p, v.staker, 0).expect("change output");
        check_output(&v, "slashingChangeOutput", &change);

        // The staking tx, from the funding UTXO, with change back to the funding script.
        let funding = FundingUtxo {
            outpoint: OutPoint::new(
                str_at(&v.json, "/fundingUtxo/txid")
                    .parse::<Txid>()
                    .expect("txid"),
                u32::try_from(u64_at(&v.json, "/fundingUtxo/vout")).expect("vout"),
            ),
            value_sat: u64_at(&v.json, "/fundingUtxo/value"),
            script_pubkey: ScriptBuf::from_bytes(
                hex::decode(str_at(&v.json, "/fundingUtxo/scriptPubKey")).expect("hex"),
            ),
        };
        let built = build_staking_tx(
            &staking.output(),
            &funding,
            &funding.script_pubkey,
            v.raw.fee_rate,
        )
        .expect("staking tx");
        assert_eq!(
            serialize_hex(&built.tx),
            str_at(&v.json, "/stakingTx/hex"),
            "{name} stakingTx"
        );
        assert_eq!(
            built.tx.compute_txid().to_string(),
            str_at(&v.json, "/stakingTx/txid"),
            "{name}"
        );
        assert_eq!(built.fee_sat, u64_at(&v.json, "/stakingTx/fee"), "{name}");
        assert_eq!(
            u64::from(built.staking_output_index),
            u64_at(&v.json, "/stakingTx/stakingOutputIndex"),
            "{name}"
        );

        // Unbonding and slashing txs.
        let staking_outpoint = OutPoint::new(built.tx.compute_txid(), built.staking_output_index);
        let unbonding_tx = build_unbonding_tx(p, v.staker, &v.operators, staking_outpoint, amount)
            .expect("unbonding tx");
        assert_eq!(
            serialize_hex(&unbonding_tx),
            str_at(&v.json, "/unbondingTx/hex"),
            "{name} unbondingTx"
        );
        assert_eq!(
            unbonding_tx.compute_txid().to_string(),
            str_at(&v.json, "/unbondingTx/txid"),
            "{name}"
        );
        let slash_staking =
            build_slashing_tx(p, v.staker, staking_outpoint, amount).expect("slashing tx");
        assert_eq!(
            serialize_hex(&slash_staking),
            str_at(&v.json, "/slashStakingTxUnsigned"),
            "{name} slashStakingTxUnsigned"
        );
        let unbonding_outpoint = OutPoint::new(unbonding_tx.compute_txid(), 0);
        let slash_unbonding = build_slashing_tx(p, v.staker, unbonding_outpoint, unbonding_value)
            .expect("unbonding slashing tx");
        assert_eq!(
            serialize_hex(&slash_unbonding),
            str_at(&v.json, "/slashUnbondingTxUnsigned"),
            "{name} slashUnbondingTxUnsigned"
        );

        // The vector's own txs pass the chain's checks.
        let tx = |f: &str| {
            decode_tx("tx", &hex::decode(str_at(&v.json, f)).expect("hex")).expect("tx decodes")
        };
        let (s, u, ss, su) = (
            tx("/stakingTx/hex"),
            tx("/unbondingTx/hex"),
            tx("/slashStakingTxUnsigned"),
            tx("/slashUnbondingTxUnsigned"),
        );
        let checked = validate_delegation_txs(
            p,
            &DelegationTxs {
                staker_pk: v.staker,
                operator_pks: &v.operators,
                staking_time: v.raw.staking_time,
                staking_value_sat: amount,
                staking_tx: &s,
                staking_output_index: built.staking_output_index,
                slashing_tx: &ss,
                unbonding_tx: &u,
                unbonding_slashing_tx: &su,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: the vector's txs are valid: {e}"));
        assert_eq!(checked.staking_outpoint, staking_outpoint);
        assert_eq!(checked.unbonding_outpoint, unbonding_outpoint);
    }
}

/// The vectors are kept in the repository (`testdata/vectors/btc-staking/`) so that a clone
/// tests on its own; where the workspace's reference copy (`../shared/vectors/btc-staking/`,
/// beside the repository) is present, the two must be identical.
#[test]
fn the_repository_copy_of_the_vectors_is_the_reference_copy() {
    let reference =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/btc-staking");
    if !reference.is_dir() {
        println!(
            "skipped: no reference copy at {} to compare with",
            reference.display()
        );
        return;
    }
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&reference), names(&vectors_dir()));
    for name in names(&reference) {
        assert_eq!(
            std::fs::read(reference.join(&name)).expect("reference file"),
            std::fs::read(vectors_dir().join(&name)).expect("repository file"),
            "{name} differs from the reference copy"
        );
    }
}
