//! The consumer's data directory: the verified validator set with its update id
//! (`consumer_set.json`), written only after an update passed every check.
//!
//! What is verified is each validator's key and power (the set hash and the proven commitment
//! cover those only). The operator behind each key is kept beside them, as the hub reported
//! it, under the name `unverified_operator`.
//!
//! Files are replaced atomically: the new content goes to a temporary file in the same
//! directory, which is synced and renamed over the old one, and the directory is synced. A crash
//! leaves the old file or the new one, never a mix.

use crate::verify::{set_hash, ConsumerSet, Member};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file holding the verified set.
pub const SET_FILE: &str = "consumer_set.json";

/// Why the data directory cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a file.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what this program writes.
    #[error("{path} is not a valid consumer state file: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    consumer_id: String,
    update_id: u64,
    hub_height: u64,
    epoch: u64,
    /// Hex.
    set_hash: String,
    total_power: u64,
    /// In CometBFT order.
    validators: Vec<ValidatorEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorEntry {
    /// Hex of the ed25519 key.
    pubkey: String,
    power: u64,
    /// Hex of the operator's BTC key as the hub reported it: not covered by the set hash nor
    /// the proof. (Files written before it was named so call it `operator_btc_pk`.)
    #[serde(alias = "operator_btc_pk")]
    unverified_operator: String,
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, directory fsync).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Makes the rename durable; a filesystem that cannot sync directories still renamed.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes the verified set to `<data_dir>/consumer_set.json`.
pub fn save(data_dir: &Path, set: &ConsumerSet) -> Result<(), StoreError> {
    let file = SetFile {
        consumer_id: set.consumer_id.clone(),
        update_id: set.update_id,
        hub_height: set.hub_height,
        epoch: set.epoch,
        set_hash: hex::encode(set.set_hash),
        total_power: set.total_power(),
        validators: set
            .cometbft_order()
            .into_iter()
            .map(|(k, m)| ValidatorEntry {
                pubkey: hex::encode(k),
                power: m.power,
                unverified_operator: hex::encode(&m.unverified_operator),
            })
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&file).expect("the state file always serializes");
    json.push(b'\n');
    write_atomic(&data_dir.join(SET_FILE), &json)
}

/// Reads `<data_dir>/consumer_set.json` for `consumer_id`: the empty set before update 1 when
/// there is no file. The file must be for this consumer and its set must hash to its set hash.
pub fn load(data_dir: &Path, consumer_id: &str) -> Result<ConsumerSet, StoreError> {
    let path = data_dir.join(SET_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ConsumerSet::empty(consumer_id))
        }
        Err(source) => {
            return Err(StoreError::Io {
                op: "read",
                path,
                source,
            })
        }
    };
    let invalid = |message: String| StoreError::Invalid {
        path: path.clone(),
        message,
    };
    let file: SetFile = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if file.consumer_id != consumer_id {
        return Err(invalid(format!(
            "it is for consumer {:?}, the configuration says {consumer_id:?} (use another data_dir)",
            file.consumer_id
        )));
    }
    let mut set = ConsumerSet::empty(consumer_id);
    set.update_id = file.update_id;
    set.hub_height = file.hub_height;
    set.epoch = file.epoch;
    for v in &file.validators {
        let key: [u8; 32] = hex::decode(&v.pubkey)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| invalid(format!("pubkey {:?} is not 32 bytes of hex", v.pubkey)))?;
        let unverified_operator = hex::decode(&v.unverified_operator).map_err(|e| {
            invalid(format!(
                "unverified_operator {:?}: {e}",
                v.unverified_operator
            ))
        })?;
        if v.power == 0 {
            return Err(invalid(format!("validator {} has power 0", v.pubkey)));
        }
        let member = Member {
            power: v.power,
            unverified_operator,
        };
        if set.validators.insert(key, member).is_some() {
            return Err(invalid(format!("validator {} is listed twice", v.pubkey)));
        }
    }
    let computed = set_hash(&set.validators).map_err(invalid)?;
    if hex::encode(computed) != file.set_hash {
        return Err(invalid(format!(
            "its validators hash to {}, it records set_hash {}",
            hex::encode(computed),
            file.set_hash
        )));
    }
    set.set_hash = computed;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ConsumerSet {
        let mut s = ConsumerSet::empty("demo-1");
        s.update_id = 3;
        s.hub_height = 41;
        s.epoch = 8;
        for n in 1..=3u8 {
            s.validators.insert(
                [n; 32],
                Member {
                    power: u64::from(n) * 10,
                    unverified_operator: vec![n + 100; 32],
                },
            );
        }
        s.set_hash = set_hash(&s.validators).unwrap();
        s
    }

    #[test]
    fn a_saved_set_loads_back_and_a_missing_file_is_the_empty_set() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(dir.path(), "demo-1").unwrap(),
            ConsumerSet::empty("demo-1")
        );
        let s = sample();
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path(), "demo-1").unwrap(), s);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![SET_FILE.to_string()]);
        let text = std::fs::read_to_string(dir.path().join(SET_FILE)).unwrap();
        assert!(text.contains("\"total_power\": 60"), "{text}");
    }

    #[test]
    fn a_file_for_another_consumer_or_with_an_edited_set_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &sample()).unwrap();
        let err = load(dir.path(), "demo-2").unwrap_err().to_string();
        assert!(err.contains("\"demo-1\""), "{err}");

        let path = dir.path().join(SET_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"power\": 30", "\"power\": 31")).unwrap();
        let err = load(dir.path(), "demo-1").unwrap_err().to_string();
        assert!(err.contains("records set_hash"), "{err}");

        std::fs::write(&path, "{").unwrap();
        assert!(load(dir.path(), "demo-1").is_err());
    }

    #[test]
    fn the_operator_is_kept_only_under_its_unverified_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample();
        save(dir.path(), &s).unwrap();
        let path = dir.path().join(SET_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for entry in v["validators"].as_array().unwrap() {
            let mut keys: Vec<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                vec!["power", "pubkey", "unverified_operator"],
                "{entry}"
            );
        }
        assert!(!text.contains("operator_btc_pk"), "{text}");
        // The operator is outside what the set hash checks: another one still loads (it is
        // only what the hub said), while another power does not.
        let other = text.replacen(&hex::encode([103u8; 32]), &hex::encode([9u8; 32]), 1);
        assert_ne!(other, text);
        std::fs::write(&path, &other).unwrap();
        let loaded = load(dir.path(), "demo-1").unwrap();
        assert_eq!(loaded.set_hash, s.set_hash);
        assert_eq!(
            loaded.validators[&[3; 32]].unverified_operator,
            vec![9u8; 32]
        );
        // A file written before the rename loads, the operator still unverified.
        std::fs::write(
            &path,
            text.replace("unverified_operator", "operator_btc_pk"),
        )
        .unwrap();
        assert_eq!(load(dir.path(), "demo-1").unwrap(), s);
    }
}
