//! The submitter's record of what it sent: for every epoch it is responsible for, the two
//! checkpoint parts and each signed tx1/tx2 pair (an *attempt*) it built, in order.
//!
//! The record is one JSON file, `<data_dir>/submitter-state.json`, replaced atomically (written
//! to a temporary file, synced, renamed over the old one, directory synced). An attempt is
//! written *before* either of its transactions is broadcast, so after a crash at any point the
//! vigilante knows every transaction that may be on the network and only ever rebroadcasts
//! those same signed bytes.

use bitcoin::{Amount, Transaction, Txid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's format version.
pub const STATE_VERSION: u32 = 1;
/// The file name inside the data dir.
pub const STATE_FILE: &str = "submitter-state.json";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// File I/O failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a state this build reads.
    #[error("state file {path} is corrupt or from another version: {message}; move it away only if no checkpoint tx of the vigilante is unconfirmed")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// How an attempt came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// A first submission (or one after the earlier txs' inputs were spent elsewhere).
    Fresh,
    /// A fee bump that replaces tx1 and rebuilds tx2.
    Bump,
    /// A new tx2 on a confirmed tx1 (fee bump or rebuild of tx2 alone).
    Tx2,
}

/// One signed tx1/tx2 pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Why it was built.
    pub kind: AttemptKind,
    /// Signed tx1, consensus hex.
    pub tx1_hex: String,
    /// Signed tx2, consensus hex.
    pub tx2_hex: String,
    /// tx1's id.
    pub tx1_txid: Txid,
    /// tx2's id.
    pub tx2_txid: Txid,
    /// The fee rate they were built for, sat/vB.
    pub fee_rate_sat_vb: u64,
    /// tx1's fee, sat.
    pub tx1_fee_sat: u64,
    /// tx2's fee, sat.
    pub tx2_fee_sat: u64,
    /// Index of the wallet's change output in tx1, if it has one.
    pub tx1_change_index: Option<u32>,
    /// Index of the carry output in tx1 (tx2's input).
    pub carry_vout: u32,
    /// Value of the carry output, sat.
    pub carry_sat: u64,
    /// bitcoind's height when the pair was (last) broadcast; `None` while only persisted.
    pub broadcast_height: Option<u64>,
}

impl Attempt {
    /// tx1, decoded.
    pub fn tx1(&self) -> Result<Transaction, String> {
        decode_tx(&self.tx1_hex)
    }

    /// tx2, decoded.
    pub fn tx2(&self) -> Result<Transaction, String> {
        decode_tx(&self.tx2_hex)
    }

    /// tx1's fee.
    pub fn tx1_fee(&self) -> Amount {
        Amount::from_sat(self.tx1_fee_sat)
    }

    /// tx2's fee.
    pub fn tx2_fee(&self) -> Amount {
        Amount::from_sat(self.tx2_fee_sat)
    }
}

fn decode_tx(hex_str: &str) -> Result<Transaction, String> {
    let bytes = hex::decode(hex_str).map_err(|e| format!("tx hex: {e}"))?;
    bitcoin::consensus::deserialize(&bytes).map_err(|e| format!("tx bytes: {e}"))
}

/// Everything sent for one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSubmission {
    /// The epoch.
    pub epoch: u64,
    /// Part 0's bytes, hex.
    pub part0_hex: String,
    /// Part 1's bytes, hex.
    pub part1_hex: String,
    /// Every pair built, oldest first. Later ones replace earlier ones.
    pub attempts: Vec<Attempt>,
}

/// The whole record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitterState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Tracked epochs.
    pub epochs: BTreeMap<u64, EpochSubmission>,
}

/// The state file of a data dir.
#[derive(Clone, Debug)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    /// The store in `data_dir` (created if missing).
    pub fn open(data_dir: &Path) -> Result<StateStore, StateError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StateError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Ok(StateStore {
            path: data_dir.join(STATE_FILE),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; an absent file is an empty state.
    pub fn load(&self) -> Result<SubmitterState, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SubmitterState {
                    version: STATE_VERSION,
                    epochs: BTreeMap::new(),
                })
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |message: String| StateError::Corrupt {
            path: self.path.clone(),
            message,
        };
        let state: SubmitterState =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(corrupt(format!(
                "version {}, expected {STATE_VERSION}",
                state.version
            )));
        }
        for (epoch, s) in &state.epochs {
            if *epoch != s.epoch {
                return Err(corrupt(format!(
                    "epoch {epoch} holds the record of epoch {}",
                    s.epoch
                )));
            }
            for a in &s.attempts {
                let (t1, t2) = (a.tx1().map_err(&corrupt)?, a.tx2().map_err(&corrupt)?);
                if t1.compute_txid() != a.tx1_txid || t2.compute_txid() != a.tx2_txid {
                    return Err(corrupt(format!(
                        "epoch {epoch}: a stored tx does not match its txid"
                    )));
                }
            }
        }
        Ok(state)
    }

    /// Replaces the file with `state` atomically and durably.
    pub fn save(&self, state: &SubmitterState) -> Result<(), StateError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        let json = serde_json::to_vec_pretty(state).expect("the state is plain data");
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&json).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{ScriptBuf, TxOut};

    fn tx(n: u64) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![TxOut {
                value: Amount::from_sat(n),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    fn attempt(n: u64) -> Attempt {
        let (t1, t2) = (tx(n), tx(n + 1));
        Attempt {
            kind: AttemptKind::Fresh,
            tx1_hex: bitcoin::consensus::encode::serialize_hex(&t1),
            tx2_hex: bitcoin::consensus::encode::serialize_hex(&t2),
            tx1_txid: t1.compute_txid(),
            tx2_txid: t2.compute_txid(),
            fee_rate_sat_vb: 2,
            tx1_fee_sat: 500,
            tx2_fee_sat: 400,
            tx1_change_index: Some(2),
            carry_vout: 1,
            carry_sat: 21_000,
            broadcast_height: None,
        }
    }

    #[test]
    fn state_round_trips_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("data")).unwrap();
        assert_eq!(
            store.load().unwrap().epochs.len(),
            0,
            "no file: empty state"
        );
        let mut s = store.load().unwrap();
        s.epochs.insert(
            3,
            EpochSubmission {
                epoch: 3,
                part0_hex: "00".into(),
                part1_hex: "11".into(),
                attempts: vec![attempt(1), attempt(5)],
            },
        );
        store.save(&s).unwrap();
        s.epochs.get_mut(&3).unwrap().attempts[1].broadcast_height = Some(120);
        store.save(&s).unwrap();
        let again = StateStore::open(&dir.path().join("data")).unwrap();
        assert_eq!(again.load().unwrap(), s);
        assert!(
            !store.path().with_extension("json.tmp").exists(),
            "the temporary file was renamed into place"
        );
    }

    #[test]
    fn a_damaged_or_inconsistent_file_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        std::fs::write(store.path(), b"{\"version\":1,\"epo").unwrap();
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));

        let mut s = SubmitterState {
            version: STATE_VERSION,
            epochs: BTreeMap::new(),
        };
        let mut a = attempt(1);
        a.tx1_txid = a.tx2_txid;
        s.epochs.insert(
            1,
            EpochSubmission {
                epoch: 1,
                part0_hex: String::new(),
                part1_hex: String::new(),
                attempts: vec![a],
            },
        );
        store.save(&s).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("does not match its txid"), "{err}");

        s.epochs.clear();
        s.version = 9;
        store.save(&s).unwrap();
        assert!(store.load().unwrap_err().to_string().contains("version 9"));
    }
}
