//! The node's keys, in the files and JSON formats CometBFT v0.38 reads:
//!
//! - `config/priv_validator_key.json`: the ed25519 consensus key,
//!   `{"address": UPPER-HEX, "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64},
//!   "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": b64(seed || pubkey)}}`;
//! - `config/node_key.json`: the ed25519 P2P key, `{"priv_key": {...}}`; the node ID is the
//!   lower-hex address of its public key;
//! - `data/priv_validator_state.json`: the double-sign guard, `{"height": "0", "round": 0,
//!   "step": 0}` for a new key;
//! - `config/bls_key.json`: the BLS12-381 key that signs epoch checkpoints (Ballast's own
//!   format, see `ballast_app::bls_key`).
//!
//! An address is the first 20 bytes of SHA-256 of the 32-byte public key. Key files are 0600.

use super::write_private_file;
use anyhow::Context;
use ballast_app::bls_key;
use ballast_checkpointing::genesis::GenesisBlsKey;
use ballast_checkpointing::BlsSecretKey;
use ballast_client::btc_key;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::Path;

/// CometBFT's amino name of ed25519 public keys.
pub const PUB_KEY_TYPE: &str = "tendermint/PubKeyEd25519";
/// CometBFT's amino name of ed25519 private keys.
pub const PRIV_KEY_TYPE: &str = "tendermint/PrivKeyEd25519";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An ed25519 key as CometBFT uses it for consensus and P2P.
#[derive(Clone)]
pub struct Ed25519Key(ed25519_consensus::SigningKey);

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Key({})", self.address_hex())
    }
}

impl Ed25519Key {
    /// A fresh key from the OS random source.
    pub fn generate() -> Ed25519Key {
        Ed25519Key(ed25519_consensus::SigningKey::new(rand::rngs::OsRng))
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Ed25519Key {
        Ed25519Key(ed25519_consensus::SigningKey::from(seed))
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        *self.0.verification_key().as_bytes()
    }

    /// An ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// First 20 bytes of SHA-256 of the public key.
    pub fn address(&self) -> [u8; 20] {
        address_of(&self.public_key())
    }

    /// The address in upper-case hex, as in `priv_validator_key.json` and `genesis.json`.
    pub fn address_hex(&self) -> String {
        hex::encode_upper(self.address())
    }

    /// The node ID: the address in lower-case hex, as in `persistent_peers`.
    pub fn node_id(&self) -> String {
        hex::encode(self.address())
    }

    /// `{"type": "tendermint/PubKeyEd25519", "value": <base64>}`.
    pub fn pub_key_json(&self) -> serde_json::Value {
        serde_json::json!({ "type": PUB_KEY_TYPE, "value": B64.encode(self.public_key()) })
    }

    /// `{"type": "tendermint/PrivKeyEd25519", "value": <base64 of seed || public key>}`.
    pub fn priv_key_json(&self) -> serde_json::Value {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(self.0.as_bytes());
        bytes[32..].copy_from_slice(&self.public_key());
        serde_json::json!({ "type": PRIV_KEY_TYPE, "value": B64.encode(bytes) })
    }

    /// Parses a `priv_key` JSON object; the public half must match the seed.
    pub fn from_priv_key_json(v: &serde_json::Value) -> anyhow::Result<Ed25519Key> {
        let ty = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if ty != PRIV_KEY_TYPE {
            anyhow::bail!("expected a private key of type {PRIV_KEY_TYPE}, found {ty:?}");
        }
        let value = v
            .get("value")
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow::anyhow!("expected a base64 \"value\" in the private key"))?;
        let bytes = B64
            .decode(value)
            .context("the private key value is not base64")?;
        let bytes: [u8; 64] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "expected a 64-byte ed25519 private key, found {} bytes",
                bytes.len()
            )
        })?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[..32]);
        let key = Ed25519Key::from_seed(seed);
        if key.public_key()[..] != bytes[32..] {
            anyhow::bail!("the private key's public half does not match its seed");
        }
        Ok(key)
    }
}

/// First 20 bytes of SHA-256 of a 32-byte ed25519 public key.
pub fn address_of(public_key: &[u8; 32]) -> [u8; 20] {
    let digest = Sha256::digest(public_key);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[..20]);
    out
}

/// The keys `ballastd init` creates for a node.
#[derive(Clone, Debug)]
pub struct NodeKeys {
    /// The consensus key (`priv_validator_key.json`).
    pub consensus: Ed25519Key,
    /// The P2P key (`node_key.json`); the node ID derives from it.
    pub node: Ed25519Key,
    /// The BLS key that signs epoch checkpoints (`bls_key.json`).
    pub bls: BlsSecretKey,
    /// The operator's BTC key (`operator_btc_key.json`): the operator id, the key BTC stakers
    /// delegate to in their staking scripts, and the key that proves the operator's identity.
    pub operator_btc: bitcoin::secp256k1::SecretKey,
}

impl NodeKeys {
    /// Loads the keys already in `home`, generating the missing ones (as CometBFT's own
    /// `init` does, so re-running init keeps a node's identity).
    pub fn load_or_generate(home: &Path) -> anyhow::Result<NodeKeys> {
        let consensus = match read_priv_key(&super::priv_validator_key_path(home))? {
            Some(k) => k,
            None => Ed25519Key::generate(),
        };
        let node = match read_priv_key(&super::node_key_path(home))? {
            Some(k) => k,
            None => Ed25519Key::generate(),
        };
        // A BLS key file with loose permissions or edited contents stops init here, before
        // anything is written: it is never silently replaced.
        let bls = match bls_key::load_bls_key(home)? {
            Some(k) => k,
            None => bls_key::new_bls_key()?,
        };
        let operator_path = operator_btc_key_path(home);
        let operator_btc = if operator_path.exists() {
            btc_key::load_btc_key(&operator_path)?
        } else {
            btc_key::new_btc_key()
        };
        Ok(NodeKeys {
            consensus,
            node,
            bls,
            operator_btc,
        })
    }

    /// Fresh keys.
    pub fn generate() -> anyhow::Result<NodeKeys> {
        Ok(NodeKeys {
            consensus: Ed25519Key::generate(),
            node: Ed25519Key::generate(),
            bls: bls_key::new_bls_key()?,
            operator_btc: btc_key::new_btc_key(),
        })
    }

    /// This validator's entry in genesis `app_state.checkpointing.bls_keys`.
    pub fn genesis_bls_key(&self) -> GenesisBlsKey {
        bls_key::genesis_bls_key(&self.bls, self.consensus.address())
    }

    /// Writes the key files (0600) and, unless it exists, a zero `priv_validator_state.json`
    /// (an existing one holds the last signed height and must survive a re-init). An existing
    /// `bls_key.json` is kept; it must hold this key.
    pub fn write(&self, home: &Path) -> anyhow::Result<()> {
        // A struct, so the fields come out in CometBFT's order.
        #[derive(serde::Serialize)]
        struct PrivValidatorKeyFile {
            address: String,
            pub_key: serde_json::Value,
            priv_key: serde_json::Value,
        }
        let pv = PrivValidatorKeyFile {
            address: self.consensus.address_hex(),
            pub_key: self.consensus.pub_key_json(),
            priv_key: self.consensus.priv_key_json(),
        };
        let pv = serde_json::to_string_pretty(&pv).expect("plain strings always serialise");
        write_private_file(&super::priv_validator_key_path(home), &pv)?;
        let nk = serde_json::json!({ "priv_key": self.node.priv_key_json() });
        write_private_file(&super::node_key_path(home), &pretty(&nk))?;
        match bls_key::load_bls_key(home)? {
            None => bls_key::write_bls_key(home, &self.bls)?,
            Some(k) if k.to_bytes() == self.bls.to_bytes() => {}
            Some(_) => anyhow::bail!(
                "{} holds another BLS key than the one planned for this home: refusing to \
                 replace it",
                bls_key::bls_key_path(home).display()
            ),
        }
        let operator_path = operator_btc_key_path(home);
        if operator_path.exists() {
            if btc_key::load_btc_key(&operator_path)? != self.operator_btc {
                anyhow::bail!(
                    "{} holds another operator BTC key than the one planned for this home: \
                     refusing to replace it",
                    operator_path.display()
                );
            }
        } else {
            btc_key::write_btc_key(&operator_path, &self.operator_btc)?;
        }
        let state_path = super::priv_validator_state_path(home);
        if !state_path.exists() {
            let state = serde_json::json!({ "height": "0", "round": 0, "step": 0 });
            write_private_file(&state_path, &pretty(&state))?;
        }
        Ok(())
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("a JSON value always serialises")
}

/// `<home>/config/operator_btc_key.json`, the operator's BTC key (see [`NodeKeys::operator_btc`]).
pub fn operator_btc_key_path(home: &Path) -> std::path::PathBuf {
    super::config_dir(home).join("operator_btc_key.json")
}

/// The consensus key in `<home>/config/priv_validator_key.json`.
pub fn read_consensus_key(home: &Path) -> anyhow::Result<Ed25519Key> {
    let path = super::priv_validator_key_path(home);
    read_priv_key(&path)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not exist: expected the validator's consensus key (run `ballastd init`)",
            path.display()
        )
    })
}

/// Reads the `priv_key` of a CometBFT key file; `None` when the file does not exist.
fn read_priv_key(path: &Path) -> anyhow::Result<Option<Ed25519Key>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let key = Ed25519Key::from_priv_key_json(&v["priv_key"])
        .with_context(|| format!("reading the key in {}", path.display()))?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_vector_gives_the_expected_public_key_and_ids() {
        // RFC 8032 section 7.1, test 1.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        let k = Ed25519Key::from_seed(seed);
        assert_eq!(
            hex::encode(k.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let digest = Sha256::digest(k.public_key());
        assert_eq!(k.address_hex(), hex::encode_upper(&digest[..20]));
        assert_eq!(k.node_id(), k.address_hex().to_lowercase());
        let back = Ed25519Key::from_priv_key_json(&k.priv_key_json()).expect("round trip");
        assert_eq!(back.public_key(), k.public_key());
    }

    #[test]
    fn a_private_key_whose_halves_disagree_is_rejected() {
        let a = Ed25519Key::from_seed([1; 32]);
        let b = Ed25519Key::from_seed([2; 32]);
        let mut bytes = a.0.as_bytes().to_vec();
        bytes.extend_from_slice(&b.public_key());
        let v = serde_json::json!({ "type": PRIV_KEY_TYPE, "value": B64.encode(bytes) });
        let e = Ed25519Key::from_priv_key_json(&v).expect_err("mismatch");
        assert!(e.to_string().contains("does not match"), "{e}");
        let v = serde_json::json!({ "type": "tendermint/PrivKeySecp256k1", "value": "" });
        assert!(Ed25519Key::from_priv_key_json(&v).is_err());
    }
}
