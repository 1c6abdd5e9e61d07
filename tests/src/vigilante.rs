//! `ballast-vigilante` against a regtest [`BitcoinD`] and a `ballastd dev` chain.
//!
//! - [`DevChain`]: `ballastd dev` on a temporary home with its RPC, gRPC and metrics on free
//!   ports; the vigilante signs with its funded `dev` key.
//! - [`Vigilante`]: the daemon as a process (its stderr log in a file), started from a config
//!   that [`VigilanteConfig`] writes, killed with SIGKILL or stopped with SIGTERM.
//! - Chain readers: checkpoint status and the light client's tip through CometBFT's RPC, and
//!   the checkpoint transactions the bitcoind wallet holds.

use crate::bitcoind::BitcoinD;
use crate::checkpoint_rpc;
use crate::node::{free_port, Ballastd};
use ballast_checkpointing::encoding::{op_return_data, CheckpointTag, PART0_LEN};
use ballast_proto::ballast::btclightclient::v1 as lc_pb;
use ballast_proto::ballast::checkpointing::v1 as ck_pb;
use bitcoin::{BlockHash, Transaction, Txid};
use bitcoincore_rpc::RpcApi;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `ballast-vigilante` binary: `$BALLAST_VIGILANTE_BIN`, or the one built beside the test
/// binary (`cargo build -p ballast-vigilante`, or a workspace-wide `cargo test`).
pub fn vigilante_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BALLAST_VIGILANTE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let bin = dir.join("ballast-vigilante");
    assert!(
        bin.exists(),
        "ballast-vigilante is not built at {}: run `cargo build -p ballast-vigilante` or the whole `cargo test --workspace`",
        bin.display()
    );
    bin
}

fn launch_dev(home: &Path, rpc: &str, grpc: &str, metrics: &str, interval_ms: u64) -> Ballastd {
    let args: Vec<String> = [
        "dev",
        "--home",
        home.to_str().unwrap(),
        "--rpc-address",
        rpc.trim_start_matches("http://"),
        "--grpc-address",
        grpc,
        "--metrics-address",
        metrics,
        "--block-interval-ms",
        &interval_ms.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut node = Ballastd::spawn(home, &args, &[]).unwrap();
    node.wait_line("RPC listening on ", Duration::from_secs(60))
        .unwrap();
    checkpoint_rpc::wait_for_height(rpc, 1, Duration::from_secs(60));
    node
}

/// A running `ballastd dev`.
pub struct DevChain {
    /// The process.
    pub node: Ballastd,
    /// Its home (the vigilante's keyring dir).
    pub home: PathBuf,
    /// CometBFT-compatible RPC, `http://host:port`.
    pub rpc: String,
    /// gRPC `host:port`.
    pub grpc: String,
    metrics: String,
    interval_ms: u64,
}

impl DevChain {
    /// Starts `ballastd dev` on `home` with one block every `interval_ms`, and waits for its
    /// first block.
    pub fn start(home: &Path, interval_ms: u64) -> DevChain {
        let rpc = format!("http://127.0.0.1:{}", free_port());
        let grpc = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let node = launch_dev(home, &rpc, &grpc, &metrics, interval_ms);
        DevChain {
            node,
            home: home.to_path_buf(),
            rpc,
            grpc,
            metrics,
            interval_ms,
        }
    }

    fn launch(&mut self) {
        self.node = launch_dev(
            &self.home,
            &self.rpc,
            &self.grpc,
            &self.metrics,
            self.interval_ms,
        );
    }

    /// Stops the chain with SIGTERM and starts it again on the same home and ports.
    pub fn restart(&mut self) {
        self.node.terminate(Duration::from_secs(30)).unwrap();
        self.launch();
    }

    /// Stops the chain with SIGTERM.
    pub fn stop(&mut self) {
        let _ = self.node.terminate(Duration::from_secs(30));
    }

    /// Starts a stopped chain again.
    pub fn start_again(&mut self) {
        self.launch();
    }

    /// The dev account's bech32 address.
    pub fn dev_address(&self) -> String {
        let seed: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.home.join("key_seed.json")).unwrap(),
        )
        .unwrap();
        seed["address"].as_str().unwrap().to_string()
    }

    /// The checkpoint of `epoch`, if the epoch has ended.
    pub fn checkpoint(&self, epoch: u64) -> Option<ck_pb::CheckpointRecord> {
        checkpoint_rpc::checkpoint(&self.rpc, epoch).ok()
    }

    /// The status of `epoch`'s checkpoint (`Unspecified` before the epoch ends).
    pub fn status(&self, epoch: u64) -> ck_pb::CheckpointStatus {
        self.checkpoint(epoch)
            .and_then(|c| ck_pb::CheckpointStatus::try_from(c.status).ok())
            .unwrap_or(ck_pb::CheckpointStatus::Unspecified)
    }

    /// Waits until `epoch`'s checkpoint has `status`; panics with `context()` after `timeout`.
    pub fn wait_status(
        &self,
        epoch: u64,
        status: ck_pb::CheckpointStatus,
        timeout: Duration,
        context: impl Fn() -> String,
    ) -> ck_pb::CheckpointRecord {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.checkpoint(epoch) {
                if c.status == status as i32 {
                    return c;
                }
                if Instant::now() > deadline {
                    panic!(
                        "epoch {epoch} is {:?}, expected {status:?} within {timeout:?}\n{}",
                        ck_pb::CheckpointStatus::try_from(c.status),
                        context()
                    );
                }
            } else if Instant::now() > deadline {
                panic!(
                    "epoch {epoch} has no checkpoint within {timeout:?}\n{}",
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The light client's tip: (height, hash).
    pub fn lc_tip(&self) -> (u64, BlockHash) {
        let r: lc_pb::QueryTipResponse = checkpoint_rpc::query(
            &self.rpc,
            "/ballast.btclightclient.v1.Query/Tip",
            &lc_pb::QueryTipRequest {},
        )
        .unwrap_or_else(|e| panic!("light client tip: {e:?}"));
        let h = r.header.expect("the tip has a header");
        (h.height, h.hash.parse().expect("a hash in display order"))
    }

    /// Whether `hash` is on the light client's best chain.
    pub fn lc_on_best_chain(&self, hash: &BlockHash) -> bool {
        let r: lc_pb::QueryIsOnBestChainResponse = checkpoint_rpc::query(
            &self.rpc,
            "/ballast.btclightclient.v1.Query/IsOnBestChain",
            &lc_pb::QueryIsOnBestChainRequest {
                hash: hash.to_string(),
            },
        )
        .unwrap_or_else(|e| panic!("IsOnBestChain: {e:?}"));
        r.on_best_chain
    }

    /// Waits until the light client's tip is bitcoind's tip; panics with `context()` after
    /// `timeout`.
    pub fn wait_lc_tip(&self, btc: &BitcoinD, timeout: Duration, context: impl Fn() -> String) {
        let deadline = Instant::now() + timeout;
        loop {
            let want = btc.tip().unwrap();
            let got = self.lc_tip();
            if got.1 == want {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "light client tip {got:?}, expected bitcoind's tip {want} (height {}) within {timeout:?}\n{}",
                    btc.height().unwrap(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The fields a test sets in the vigilante's config.
#[derive(Clone, Debug)]
pub struct VigilanteConfig {
    /// Ballast CometBFT RPC.
    pub ballast_rpc: String,
    /// Ballast gRPC (`""`: ABCI queries).
    pub ballast_grpc: String,
    /// Chain id.
    pub chain_id: String,
    /// Keyring home.
    pub keyring_dir: PathBuf,
    /// Key name.
    pub key_name: String,
    /// bitcoind RPC URL.
    pub btc_url: String,
    /// Wallet.
    pub wallet: String,
    /// RPC user.
    pub user: String,
    /// RPC password.
    pub password: String,
    /// The state directory.
    pub data_dir: PathBuf,
    /// `rbf_after_blocks` (0: never bump).
    pub rbf_after_blocks: u64,
    /// `header_batch_size`.
    pub header_batch_size: u32,
    /// Run the submitter.
    pub submitter: bool,
}

impl VigilanteConfig {
    /// A config for `chain` and `btc`, state in `data_dir`, signing with the dev key.
    pub fn new(chain: &DevChain, btc: &BitcoinD, data_dir: &Path) -> VigilanteConfig {
        let (user, password) = btc.credentials();
        VigilanteConfig {
            ballast_rpc: chain.rpc.clone(),
            ballast_grpc: chain.grpc.clone(),
            chain_id: chain_id(&chain.home),
            keyring_dir: chain.home.clone(),
            key_name: "dev".into(),
            btc_url: btc.rpc_url(),
            wallet: crate::bitcoind::WALLET.into(),
            user: user.into(),
            password: password.into(),
            data_dir: data_dir.to_path_buf(),
            rbf_after_blocks: 0,
            header_batch_size: 500,
            submitter: true,
        }
    }

    /// Writes the TOML file at `path`.
    pub fn write(&self, path: &Path) {
        let text = format!(
            r#"data_dir = {data_dir:?}
[ballast]
rpc_address = {rpc:?}
grpc_address = {grpc:?}
chain_id = {chain_id:?}
keyring_dir = {keyring:?}
keyring_backend = "test"
key_name = {key:?}
tx_timeout_secs = 30
[bitcoin]
rpc_url = {url:?}
wallet = {wallet:?}
rpc_user = {user:?}
rpc_password = {password:?}
network = "regtest"
[submitter]
enable = {submitter}
poll_interval_ms = 300
fee_rate_sat_vb = 2
max_fee_rate_sat_vb = 50
rbf_after_blocks = {rbf}
[reporter]
poll_interval_ms = 200
header_batch_size = {batch}
"#,
            data_dir = self.data_dir.display().to_string(),
            rpc = self.ballast_rpc,
            grpc = self.ballast_grpc,
            chain_id = self.chain_id,
            keyring = self.keyring_dir.display().to_string(),
            key = self.key_name,
            url = self.btc_url,
            wallet = self.wallet,
            user = self.user,
            password = self.password,
            submitter = self.submitter,
            rbf = self.rbf_after_blocks,
            batch = self.header_batch_size,
        );
        std::fs::write(path, text).unwrap();
    }
}

/// The chain id in a home's `config/ballast.toml` (`chain_id = "…"`), or the dev default.
pub fn chain_id(home: &Path) -> String {
    let text =
        std::fs::read_to_string(home.join("config").join("ballast.toml")).unwrap_or_default();
    let v: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Table(Default::default()));
    v.get("chain_id")
        .and_then(|c| c.as_str())
        .unwrap_or("ballast-local-1")
        .to_string()
}

/// A running `ballast-vigilante start`.
pub struct Vigilante {
    child: Option<Child>,
    /// The config file.
    pub config: PathBuf,
    /// stderr (the log), appended across restarts.
    pub log_path: PathBuf,
}

impl Vigilante {
    /// Starts `ballast-vigilante start --config <config>` with extra env vars; the log goes to
    /// `<config dir>/vigilante.log`.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Vigilante {
        let log_path = config
            .parent()
            .expect("the config is in a directory")
            .join("vigilante.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut cmd = Command::new(vigilante_bin());
        cmd.arg("start")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("BALLAST_VIGILANTE_FAULT")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawning ballast-vigilante");
        Vigilante {
            child: Some(child),
            config: config.to_path_buf(),
            log_path,
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` log lines, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Log lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Waits for a log line containing every one of `needles`; panics after `timeout`.
    pub fn wait_log(&mut self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines_with(needles).into_iter().next() {
                return l;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    panic!(
                        "ballast-vigilante exited with {status} before logging {needles:?}:\n{}",
                        self.log_tail(40)
                    );
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "ballast-vigilante did not log {needles:?} within {timeout:?}:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the process to exit by itself; returns whether SIGKILL ended it.
    pub fn wait_killed(&mut self, timeout: Duration) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let c = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                self.child = None;
                return status.signal() == Some(9);
            }
            if Instant::now() > deadline {
                panic!(
                    "ballast-vigilante still runs after {timeout:?}:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether it exited with success.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Vigilante {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A checkpoint transaction of the wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletCheckpointTx {
    /// The epoch (read from part 0; for part 1, from the part 0 it spends).
    pub epoch: Option<u64>,
    /// 0 or 1.
    pub part: u8,
    /// The tx id.
    pub txid: Txid,
    /// The wallet's confirmations (negative: conflicted, e.g. replaced).
    pub confirmations: i64,
    /// The decoded tx.
    pub tx: Transaction,
}

/// Every transaction the wallet knows (sent, received, replaced or conflicted) that carries a
/// checkpoint part under `tag`, read with `listtransactions` and `gettransaction`.
pub fn wallet_checkpoint_txs(btc: &BitcoinD, tag: CheckpointTag) -> Vec<WalletCheckpointTx> {
    let list: serde_json::Value = btc
        .rpc()
        .call(
            "listtransactions",
            &[
                serde_json::json!("*"),
                serde_json::json!(100_000),
                serde_json::json!(0),
                serde_json::json!(true),
            ],
        )
        .unwrap();
    let mut txids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["txid"].as_str().map(str::to_string))
        .collect();
    txids.sort();
    txids.dedup();
    let mut out = Vec::new();
    let mut epoch_of_part0: BTreeMap<Txid, u64> = BTreeMap::new();
    for txid in txids {
        let info: serde_json::Value = btc
            .rpc()
            .call("gettransaction", &[serde_json::json!(txid)])
            .unwrap();
        let raw = hex::decode(info["hex"].as_str().unwrap()).unwrap();
        let tx: Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
        let Ok((_, data)) = op_return_data(&tx) else {
            continue;
        };
        if data.len() < 5 || data[..4] != tag.0 {
            continue;
        }
        let part = data[4] >> 4;
        let epoch = if part == 0 && data.len() == PART0_LEN {
            let e = u64::from_be_bytes(data[5..13].try_into().unwrap());
            epoch_of_part0.insert(tx.compute_txid(), e);
            Some(e)
        } else {
            None
        };
        out.push(WalletCheckpointTx {
            epoch,
            part,
            txid: tx.compute_txid(),
            confirmations: info["confirmations"].as_i64().unwrap_or(0),
            tx,
        });
    }
    for t in out.iter_mut().filter(|t| t.part == 1) {
        t.epoch =
            t.tx.input
                .iter()
                .find_map(|i| epoch_of_part0.get(&i.previous_output.txid).copied());
    }
    out
}

/// Polls `cond` every 100 ms until it holds (true) or `timeout` passes (false).
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `txid` is in bitcoind's mempool.
pub fn in_mempool(btc: &BitcoinD, txid: &Txid) -> bool {
    btc.rpc().get_raw_mempool().unwrap().contains(txid)
}

/// Mines one block holding none of the mempool's txs (`generateblock` with an empty list).
pub fn mine_empty(btc: &BitcoinD) -> BlockHash {
    let addr = btc.new_address().unwrap();
    let v: serde_json::Value = btc
        .rpc()
        .call(
            "generateblock",
            &[serde_json::json!(addr.to_string()), serde_json::json!([])],
        )
        .unwrap();
    v["hash"].as_str().unwrap().parse().unwrap()
}

/// The block of bitcoind's best chain that `txid` is confirmed in, from the tx index (a block
/// that left the best chain does not count).
pub fn confirming_block(btc: &BitcoinD, txid: &Txid) -> Option<BlockHash> {
    let v: serde_json::Value = btc
        .rpc()
        .call(
            "getrawtransaction",
            &[serde_json::json!(txid.to_string()), serde_json::json!(true)],
        )
        .ok()?;
    if v["confirmations"].as_u64().unwrap_or(0) == 0 {
        return None;
    }
    v["blockhash"].as_str().map(|h| h.parse().unwrap())
}

/// The `tx1=` and `tx2=` fields of a vigilante log line.
pub fn txids_in_line(line: &str) -> (Txid, Txid) {
    let field = |name: &str| -> Txid {
        let start = line
            .find(&format!(" {name}="))
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
            + name.len()
            + 2;
        line[start..start + 64].parse().unwrap()
    };
    (field("tx1"), field("tx2"))
}
