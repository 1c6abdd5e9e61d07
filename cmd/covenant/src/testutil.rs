//! Test fixtures: a PENDING delegation built from the BTC staking reference vector
//! `shared/vectors/btc-staking/local-3cov-q2.json` (made by Babylon's own staking library:
//! 3 covenant keys, quorum 2), with the staker's signatures made here.

use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::sign::sign_leaf;
use bitcoin::consensus::encode::deserialize;
use bitcoin::{Amount, ScriptBuf, Transaction, TxOut};
use secp256k1::{SecretKey, XOnlyPublicKey};
use std::path::PathBuf;

/// The reference vector, parsed.
pub struct Vector {
    json: serde_json::Value,
}

impl Vector {
    /// Loads `local-3cov-q2.json`.
    pub fn load() -> Vector {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/vectors/btc-staking/local-3cov-q2.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Vector {
            json: serde_json::from_str(&text).expect("the vector is JSON"),
        }
    }

    fn str(&self, path: &[&str]) -> String {
        let mut v = &self.json;
        for p in path {
            v = &v[*p];
        }
        v.as_str()
            .unwrap_or_else(|| panic!("{path:?} is not a string in the vector"))
            .to_string()
    }

    fn u64(&self, path: &[&str]) -> u64 {
        let mut v = &self.json;
        for p in path {
            v = &v[*p];
        }
        v.as_u64()
            .unwrap_or_else(|| panic!("{path:?} is not a number in the vector"))
    }

    /// Hex field as bytes.
    pub fn bytes(&self, path: &[&str]) -> Vec<u8> {
        hex::decode(self.str(path)).expect("vector fields are hex")
    }

    fn keys(&self, key: &str) -> Vec<String> {
        self.json["keys"][key]
            .as_array()
            .unwrap_or_else(|| panic!("keys.{key} is not a list"))
            .iter()
            .map(|v| v.as_str().expect("hex string").to_string())
            .collect()
    }

    /// Secret key from hex.
    pub fn sk(hex_str: &str) -> SecretKey {
        SecretKey::from_slice(&hex::decode(hex_str).expect("hex")).expect("a secret key")
    }

    /// The staker's secret key.
    pub fn staker_sk(&self) -> SecretKey {
        Self::sk(&self.str(&["keys", "stakerSk"]))
    }

    /// The operator's (finality provider's) secret key.
    pub fn operator_sk(&self) -> SecretKey {
        Self::sk(&self.keys("fpSks")[0])
    }

    /// The operator's x-only key.
    pub fn operator_pk(&self) -> XOnlyPublicKey {
        xonly_hex(&self.keys("fpPks")[0])
    }

    /// The covenant members' secret keys.
    pub fn covenant_sks(&self) -> Vec<SecretKey> {
        self.keys("covenantSks")
            .iter()
            .map(|s| Self::sk(s))
            .collect()
    }

    /// The covenant members' x-only keys.
    pub fn covenant_pks(&self) -> Vec<XOnlyPublicKey> {
        self.keys("covenantPks")
            .iter()
            .map(|s| xonly_hex(s))
            .collect()
    }

    /// A tx field (hex) decoded.
    pub fn tx(&self, path: &[&str]) -> Transaction {
        deserialize(&self.bytes(path)).expect("vector txs decode")
    }

    /// The staking output as the vector states it.
    pub fn staking_output(&self) -> TxOut {
        TxOut {
            value: Amount::from_sat(self.u64(&["params", "stakingAmountSat"])),
            script_pubkey: ScriptBuf::from_bytes(self.bytes(&["stakingOutput", "scriptPubKey"])),
        }
    }

    /// The unbonding output as the vector states it (value from the unbonding tx).
    pub fn unbonding_output(&self) -> TxOut {
        TxOut {
            value: self.tx(&["unbondingTx", "hex"]).output[0].value,
            script_pubkey: ScriptBuf::from_bytes(self.bytes(&["unbondingOutput", "scriptPubKey"])),
        }
    }

    /// A leaf script of the vector (`slashingScript`, `unbondingScript`, ...).
    pub fn script(&self, name: &str) -> ScriptBuf {
        ScriptBuf::from_bytes(self.bytes(&["scripts", name]))
    }

    /// The chain's BTC staking params: the vector's, with the default bounds.
    pub fn chain_params(&self) -> pb::BtcStakingParams {
        pb::BtcStakingParams {
            covenant_pks: self
                .covenant_pks()
                .iter()
                .map(|k| k.serialize().to_vec())
                .collect(),
            covenant_quorum: 2,
            min_staking_value_sat: 10_000,
            max_staking_value_sat: 1_000_000_000,
            min_staking_time: 400,
            max_staking_time: 65_535,
            unbonding_time: self.u64(&["params", "unbondingTime"]) as u32,
            unbonding_fee_sat: self.u64(&["params", "unbondingFeeSat"]),
            slashing_rate: "0.1".into(),
            min_slashing_tx_fee_sat: self.u64(&["params", "minSlashingTxFeeSat"]),
            slashing_pk_script: self.bytes(&["params", "slashingPkScriptHex"]),
            btc_confirmation_depth: 6,
        }
    }

    /// The PENDING delegation of the vector, with the staker's signatures on both slashing
    /// txs.
    pub fn delegation(&self) -> pb::BtcDelegation {
        let staker = self.staker_sk();
        let slashing_tx = self.tx(&["slashStakingTxUnsigned"]);
        let unbonding_slashing_tx = self.tx(&["slashUnbondingTxUnsigned"]);
        let slashing_leaf = self.script("slashingScript");
        let slashing_sig = sign_leaf(
            &staker,
            &slashing_tx,
            0,
            &[self.staking_output()],
            &slashing_leaf,
        )
        .expect("sighash");
        let unbonding_slashing_sig = sign_leaf(
            &staker,
            &unbonding_slashing_tx,
            0,
            &[self.unbonding_output()],
            &slashing_leaf,
        )
        .expect("sighash");
        pb::BtcDelegation {
            staker_addr: "bal1staker".into(),
            btc_pk: self.bytes(&["keys", "stakerPk"]),
            operator_btc_pk: self.operator_pk().serialize().to_vec(),
            staking_time: self.u64(&["params", "stakingTime"]) as u32,
            staking_value: self.u64(&["params", "stakingAmountSat"]),
            staking_tx: self.bytes(&["stakingTx", "hex"]),
            staking_output_index: self.u64(&["stakingTx", "stakingOutputIndex"]) as u32,
            slashing_tx: self.bytes(&["slashStakingTxUnsigned"]),
            delegator_slashing_sig: slashing_sig.serialize().to_vec(),
            unbonding_tx: self.bytes(&["unbondingTx", "hex"]),
            unbonding_slashing_tx: self.bytes(&["slashUnbondingTxUnsigned"]),
            delegator_unbonding_slashing_sig: unbonding_slashing_sig.serialize().to_vec(),
            covenant_sigs: Vec::new(),
            status: pb::BtcDelegationStatus::Pending as i32,
            covenant_pks: self
                .covenant_pks()
                .iter()
                .map(|k| k.serialize().to_vec())
                .collect(),
            covenant_quorum: self.u64(&["params", "covenantQuorum"]) as u32,
            unbonding_time: self.u64(&["params", "unbondingTime"]) as u32,
            staking_txid: self.str(&["stakingTx", "txid"]),
            created_height: 5,
            ..Default::default()
        }
    }
}

/// x-only key from hex.
pub fn xonly_hex(s: &str) -> XOnlyPublicKey {
    XOnlyPublicKey::from_slice(&hex::decode(s).expect("hex")).expect("an x-only key")
}
