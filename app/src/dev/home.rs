//! Reads the dev chain's configuration from a CometBFT home: `config/genesis.json` and
//! `config/priv_validator_key.json`, in CometBFT's own formats.

use super::block::consensus_hash;
use super::DevError;
use prost::bytes::Bytes;
use std::path::{Path, PathBuf};
use tendermint::{account, chain, node, validator, Genesis, Hash, Time};
use tendermint_config::PrivValidatorKey;
use tendermint_proto::v0_38::abci as pb;

/// CometBFT's fixed block overhead (`MaxOverheadForBlock`).
const MAX_OVERHEAD_FOR_BLOCK: i64 = 11;
/// CometBFT's `MaxHeaderBytes`.
const MAX_HEADER_BYTES: i64 = 626;
/// CometBFT's `MaxCommitOverheadBytes`.
const MAX_COMMIT_OVERHEAD_BYTES: i64 = 94;
/// CometBFT's `MaxCommitSigBytes` plus the two bytes of the repeated field.
const MAX_COMMIT_SIG_BYTES: i64 = 109 + 2;

/// Voting power of the dev validator when genesis lists no validator.
pub const DEFAULT_POWER: u64 = 10;

/// Everything the dev chain takes from the CometBFT home. Fixed for the life of the chain.
pub struct DevSetup {
    /// The parsed genesis file.
    pub genesis: Genesis<serde_json::Value>,
    /// Chain id.
    pub chain_id: chain::Id,
    /// First height.
    pub initial_height: i64,
    /// The single validator.
    pub validator: validator::Info,
    /// Its address (20 bytes).
    pub address: [u8; 20],
    /// Hash of the validator set (constant: the dev set never changes).
    pub validators_hash: Hash,
    /// Hash of the consensus parameters.
    pub consensus_hash: Hash,
    /// The most tx bytes a block may carry (CometBFT's `MaxDataBytes` for one validator).
    pub max_data_bytes: i64,
    /// The block gas limit (-1: none).
    pub max_gas: i64,
    /// This node's id (derived from the validator key; the dev chain has no p2p key).
    pub node_id: node::Id,
    pub(crate) key: ed25519_consensus::SigningKey,
}

fn read(path: &Path) -> Result<String, DevError> {
    std::fs::read_to_string(path).map_err(|e| DevError::Home {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn bad(path: &Path, message: impl Into<String>) -> DevError {
    DevError::Home {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl DevSetup {
    /// Loads `<home>/config/genesis.json` and `<home>/config/priv_validator_key.json`. Genesis
    /// must list no validator (the key's validator then gets power [`DEFAULT_POWER`]) or
    /// exactly the key's validator: the dev chain has a single validator.
    pub fn load(home: &Path) -> Result<DevSetup, DevError> {
        let gpath: PathBuf = home.join("config").join("genesis.json");
        let kpath: PathBuf = home.join("config").join("priv_validator_key.json");
        let genesis: Genesis<serde_json::Value> = serde_json::from_str(&read(&gpath)?)
            .map_err(|e| bad(&gpath, format!("not a CometBFT genesis file: {e}")))?;
        let key = PrivValidatorKey::parse_json(read(&kpath)?)
            .map_err(|e| bad(&kpath, format!("not a CometBFT validator key file: {e}")))?;
        let signing = key
            .priv_key
            .ed25519_signing_key()
            .ok_or_else(|| bad(&kpath, "the validator key is not ed25519"))?;
        let sk_bytes: [u8; 32] = signing
            .as_bytes()
            .try_into()
            .map_err(|_| bad(&kpath, "the ed25519 key is not 32 bytes"))?;
        let sk = ed25519_consensus::SigningKey::from(sk_bytes);
        let pub_key = key.priv_key.public_key();
        if pub_key != key.pub_key {
            return Err(bad(
                &kpath,
                "pub_key does not match the private key in the same file",
            ));
        }
        let address = account::Id::from(
            pub_key
                .ed25519()
                .ok_or_else(|| bad(&kpath, "the validator key is not ed25519"))?,
        );
        if address != key.address {
            return Err(bad(
                &kpath,
                format!(
                    "address {} does not match the key (expected {address})",
                    key.address
                ),
            ));
        }
        let validator = match genesis.validators.as_slice() {
            [] => validator::Info::new(
                pub_key,
                tendermint::vote::Power::try_from(DEFAULT_POWER)
                    .expect("a small power is a valid power"),
            ),
            [v] if v.pub_key == pub_key => {
                let mut v = v.clone();
                v.address = address;
                v
            }
            [v] => {
                return Err(bad(
                    &gpath,
                    format!(
                        "the genesis validator {} is not the key in {} ({address})",
                        v.address,
                        kpath.display()
                    ),
                ))
            }
            many => {
                return Err(bad(
                    &gpath,
                    format!(
                        "the dev chain runs one validator, genesis lists {}",
                        many.len()
                    ),
                ))
            }
        };
        if validator.power() == 0 {
            return Err(bad(&gpath, "the validator has no voting power"));
        }
        let initial_height = genesis.initial_height.max(1);
        let max_bytes = i64::try_from(genesis.consensus_params.block.max_bytes)
            .map_err(|_| bad(&gpath, "consensus_params.block.max_bytes is too large"))?;
        let max_data_bytes = max_bytes
            - MAX_OVERHEAD_FOR_BLOCK
            - MAX_HEADER_BYTES
            - MAX_COMMIT_OVERHEAD_BYTES
            - MAX_COMMIT_SIG_BYTES;
        if max_data_bytes <= 0 {
            return Err(bad(
                &gpath,
                format!("consensus_params.block.max_bytes {max_bytes} leaves no room for txs"),
            ));
        }
        let set = validator::Set::new(vec![validator.clone()], Some(validator.clone()));
        let mut addr20 = [0u8; 20];
        addr20.copy_from_slice(address.as_bytes());
        Ok(DevSetup {
            chain_id: genesis.chain_id.clone(),
            initial_height,
            address: addr20,
            validators_hash: set.hash(),
            consensus_hash: consensus_hash(&genesis.consensus_params),
            max_data_bytes,
            max_gas: genesis.consensus_params.block.max_gas,
            node_id: node::Id::new(addr20),
            validator,
            key: sk,
            genesis,
        })
    }

    /// The genesis time.
    pub fn genesis_time(&self) -> Time {
        self.genesis.genesis_time
    }

    /// The validator's address as a tendermint id.
    pub fn account(&self) -> account::Id {
        self.validator.address
    }

    /// The InitChain request CometBFT sends for this genesis.
    pub fn init_chain_request(&self) -> pb::RequestInitChain {
        let update = validator::Update {
            pub_key: self.validator.pub_key,
            power: self.validator.power,
        };
        pb::RequestInitChain {
            time: Some(self.genesis.genesis_time.into()),
            chain_id: self.chain_id.to_string(),
            consensus_params: Some(self.genesis.consensus_params.clone().into()),
            validators: vec![update.into()],
            app_state_bytes: Bytes::from(
                serde_json::to_vec(&self.genesis.app_state)
                    .expect("a parsed JSON value serialises"),
            ),
            initial_height: self.initial_height,
        }
    }

    /// The validators hash as bytes.
    pub fn validators_hash_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.validators_hash.as_bytes())
    }

    /// Signs with the validator key.
    pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg).to_bytes().to_vec()
    }
}
