//! A real bitcoind in regtest mode for Bitcoin tests.
//!
//! The node is Bitcoin Knots from Debian sid, installed by the project's own
//! `testnet/install-bitcoind.sh` into a cache folder outside the clone. [`BitcoinD::start`] runs
//! that script (once per test process; concurrent processes are serialised by the script's lock),
//! then starts a node with its own temporary datadir on free loopback ports, with `-txindex`,
//! a fallback fee and a loaded wallet named [`WALLET`].
//!
//! The binaries run through the unpacked sid loader, so the process is named `ld-linux-*`: it is
//! always tracked and killed by the PID of the child this harness spawned, never by name.
//!
//! Knots policy that tests rely on: an OP_RETURN output may carry at most 80 data bytes
//! (`scriptpubkey` otherwise), and a tx whose only outputs are OP_RETURN is rejected
//! (`bare-datacarrier`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bitcoin::consensus::Encodable;
use bitcoin::{Address, BlockHash, Network, Transaction};
use bitcoincore_rpc::{Auth, Client, RpcApi};

/// The name of the wallet every node creates (or loads after a restart).
pub const WALLET: &str = "ballast";
/// The RPC user every node accepts.
pub const RPC_USER: &str = "ballast";
/// How long [`BitcoinD::start`] and [`BitcoinD::restart`] wait for the RPC to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`BitcoinD::stop`] waits after the RPC `stop` before sending SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `testnet/install-bitcoind.sh` in this checkout.
pub fn install_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testnet")
        .join("install-bitcoind.sh")
}

/// Runs the install script (with `args`) and returns the prefix it printed on its last stdout
/// line, and its stderr.
pub fn run_install_script(args: &[&str]) -> anyhow::Result<(PathBuf, String)> {
    let script = install_script();
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("{} exited with {}: {stderr}", script.display(), out.status);
    }
    let prefix = stdout
        .lines()
        .last()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("expected the prefix on the last stdout line, found {stdout:?}"))?;
    Ok((PathBuf::from(prefix.trim()), stderr))
}

/// The install prefix, after running the install script once per process.
pub fn install() -> anyhow::Result<PathBuf> {
    static PREFIX: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            run_install_script(&[])
                .map(|(prefix, _)| prefix)
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(|e| anyhow!("installing bitcoind failed: {e}"))
}

/// A regtest bitcoind process with its own datadir, ports and wallet.
pub struct BitcoinD {
    prefix: PathBuf,
    datadir: tempfile::TempDir,
    rpc_port: u16,
    p2p_port: u16,
    password: String,
    child: Option<Child>,
    client: Client,
}

impl BitcoinD {
    /// Installs bitcoind if needed, starts a regtest node, waits for its RPC and loads (or
    /// creates) the [`WALLET`] wallet.
    pub fn start() -> anyhow::Result<BitcoinD> {
        let prefix = install()?;
        let mut last = None;
        // free_port() only finds a port that was free a moment ago; another process can take it
        // before bitcoind binds it, so an early exit gets new ports.
        for _ in 0..3 {
            let datadir = tempfile::Builder::new()
                .prefix("ballast-bitcoind-")
                .tempdir()
                .context("creating the datadir")?;
            let rpc_port = crate::node::free_port();
            let p2p_port = crate::node::free_port();
            let password = format!("regtest-{rpc_port}-{}", std::process::id());
            let client = connect(rpc_port, &password)?;
            let mut node = BitcoinD {
                prefix: prefix.clone(),
                datadir,
                rpc_port,
                p2p_port,
                password,
                child: None,
                client,
            };
            match node.launch() {
                Ok(()) => return Ok(node),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("bitcoind did not start")))
    }

    /// The JSON-RPC client (user/password auth, base URL; with one wallet loaded, wallet calls
    /// go to [`WALLET`]).
    pub fn rpc(&self) -> &Client {
        &self.client
    }

    /// `http://127.0.0.1:<rpc port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// `http://127.0.0.1:<rpc port>/wallet/<WALLET>`, for clients that name the wallet.
    pub fn wallet_url(&self) -> String {
        format!("{}/wallet/{WALLET}", self.rpc_url())
    }

    /// The RPC user and password (`-rpcuser`/`-rpcpassword`; the same across restarts).
    pub fn credentials(&self) -> (&str, &str) {
        (RPC_USER, &self.password)
    }

    /// The RPC credentials as a `bitcoincore_rpc` [`Auth`].
    pub fn auth(&self) -> Auth {
        Auth::UserPass(RPC_USER.to_string(), self.password.clone())
    }

    /// The RPC port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The P2P port on 127.0.0.1.
    pub fn p2p_port(&self) -> u16 {
        self.p2p_port
    }

    /// The datadir (`-datadir`; regtest data is in its `regtest/` folder).
    pub fn datadir(&self) -> &Path {
        self.datadir.path()
    }

    /// The node's `debug.log`.
    pub fn debug_log(&self) -> PathBuf {
        self.datadir().join("regtest").join("debug.log")
    }

    /// The install prefix the node runs from.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The PID of the running node, `None` after [`stop`](Self::stop) or [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A `bitcoin-cli` command already pointed at this node.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(self.prefix.join("bin").join("bitcoin-cli"));
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", self.datadir().display()))
            .arg("-rpcconnect=127.0.0.1")
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-rpcuser={RPC_USER}"))
            .arg(format!("-rpcpassword={}", self.password));
        cmd
    }

    /// A new address of the wallet.
    pub fn new_address(&self) -> anyhow::Result<Address> {
        let addr = self
            .client
            .get_new_address(None, None)
            .context("getnewaddress")?;
        addr.require_network(Network::Regtest)
            .context("the wallet gave an address for another network")
    }

    /// Mines `n` blocks to a new wallet address; returns their hashes, lowest first.
    pub fn mine(&self, n: u64) -> anyhow::Result<Vec<BlockHash>> {
        let addr = self.new_address()?;
        self.client
            .generate_to_address(n, &addr)
            .with_context(|| format!("generatetoaddress {n}"))
    }

    /// The best block hash.
    pub fn tip(&self) -> anyhow::Result<BlockHash> {
        self.client
            .get_best_block_hash()
            .context("getbestblockhash")
    }

    /// The height of the best block.
    pub fn height(&self) -> anyhow::Result<u64> {
        self.client.get_block_count().context("getblockcount")
    }

    /// The 80 serialized header bytes of block `hash`.
    pub fn header_bytes(&self, hash: &BlockHash) -> anyhow::Result<[u8; 80]> {
        let hex_header: String = self
            .client
            .call(
                "getblockheader",
                &[
                    serde_json::json!(hash.to_string()),
                    serde_json::json!(false),
                ],
            )
            .with_context(|| format!("getblockheader {hash}"))?;
        let bytes = hex::decode(&hex_header).context("getblockheader returned non-hex")?;
        let len = bytes.len();
        bytes
            .try_into()
            .map_err(|_| anyhow!("expected an 80-byte header, found {len} bytes"))
    }

    /// `invalidateblock`: marks `hash` and its descendants invalid, so the node reorgs to the
    /// best remaining chain.
    pub fn invalidate(&self, hash: &BlockHash) -> anyhow::Result<()> {
        self.client
            .invalidate_block(hash)
            .with_context(|| format!("invalidateblock {hash}"))
    }

    /// `reconsiderblock`: undoes [`invalidate`](Self::invalidate) for `hash` and its descendants.
    pub fn reconsider(&self, hash: &BlockHash) -> anyhow::Result<()> {
        self.client
            .reconsider_block(hash)
            .with_context(|| format!("reconsiderblock {hash}"))
    }

    /// Lets the wallet add inputs and change to `tx` (`fundrawtransaction`), then signs it
    /// (`signrawtransactionwithwallet`). The result is ready for `sendrawtransaction`.
    pub fn fund_and_sign(&self, tx: &Transaction) -> anyhow::Result<Transaction> {
        // Without witnesses, so that a template with no inputs stays decodable: rust-bitcoin
        // writes an input-less tx in the segwit format, which bitcoind refuses to decode.
        let mut raw = Vec::new();
        tx.version
            .consensus_encode(&mut raw)
            .and_then(|_| tx.input.consensus_encode(&mut raw))
            .and_then(|_| tx.output.consensus_encode(&mut raw))
            .and_then(|_| tx.lock_time.consensus_encode(&mut raw))
            .expect("encoding into a Vec cannot fail");
        let funded = self
            .client
            .fund_raw_transaction(raw.as_slice(), None, Some(false))
            .context("fundrawtransaction")?;
        self.sign(&funded.hex)
    }

    /// Signs a raw tx with the wallet's keys (`signrawtransactionwithwallet`); fails unless every
    /// input got signed.
    pub fn sign(&self, raw: &[u8]) -> anyhow::Result<Transaction> {
        let signed = self
            .client
            .sign_raw_transaction_with_wallet(raw, None, None)
            .context("signrawtransactionwithwallet")?;
        if !signed.complete {
            bail!(
                "expected a completely signed tx, found errors {:?}",
                signed.errors
            );
        }
        signed.transaction().context("decoding the signed tx")
    }

    /// Asks this node to connect to `other` over P2P (`addnode … onetry`).
    pub fn connect(&self, other: &BitcoinD) -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{}", other.p2p_port);
        self.client
            .call::<serde_json::Value>(
                "addnode",
                &[serde_json::json!(addr), serde_json::json!("onetry")],
            )
            .with_context(|| format!("addnode {addr} onetry"))?;
        Ok(())
    }

    /// Waits until the node's tip is `hash`.
    pub fn wait_for_tip(&self, hash: &BlockHash, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let tip = self.tip()?;
            if &tip == hash {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("expected tip {hash} within {timeout:?}, found {tip}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the node (RPC `stop`), keeping the datadir; sends SIGKILL to its PID if it has not
    /// exited after [`STOP_TIMEOUT`].
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // The RPC may fail if the node is already going down; the wait below decides.
        let _ = self.client.stop();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if child.try_wait().context("waiting for bitcoind")?.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "bitcoind (pid {}) did not stop within {STOP_TIMEOUT:?}; sent SIGKILL",
                    child.id()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGKILL to the node's PID and reaps it, keeping the datadir (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the node (if running) and starts it again on the same datadir and ports.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Spawns bitcoind on this node's datadir and ports, waits for the RPC and loads the wallet.
    fn launch(&mut self) -> anyhow::Result<()> {
        let stdio_log = self.datadir().join("stdio.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdio_log)
            .with_context(|| format!("opening {}", stdio_log.display()))?;
        let err = out.try_clone().context("cloning the log handle")?;
        let child = Command::new(self.prefix.join("bin").join("bitcoind"))
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .context("spawning bitcoind")?;
        self.child = Some(child);
        if let Err(e) = self.wait_ready().and_then(|()| self.load_wallet()) {
            self.kill();
            return Err(e.context(format!(
                "starting bitcoind in {} failed; log tail:\n{}",
                self.datadir().display(),
                self.log_tail()
            )));
        }
        Ok(())
    }

    fn args(&self) -> Vec<String> {
        vec![
            "-regtest".into(),
            format!("-datadir={}", self.datadir().display()),
            "-server=1".into(),
            "-daemon=0".into(),
            "-printtoconsole=0".into(),
            format!("-rpcport={}", self.rpc_port),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            format!("-rpcuser={RPC_USER}"),
            format!("-rpcpassword={}", self.password),
            format!("-port={}", self.p2p_port),
            // An explicit -bind also keeps bitcoind off the default onion port (p2p + 1).
            format!("-bind=127.0.0.1:{}", self.p2p_port),
            "-listen=1".into(),
            "-listenonion=0".into(),
            "-discover=0".into(),
            "-dnsseed=0".into(),
            "-fixedseeds=0".into(),
            "-natpmp=0".into(),
            "-txindex=1".into(),
            "-disablewallet=0".into(),
            "-fallbackfee=0.0002".into(),
            // Mainnet relay policy, so tests see what a real network would accept.
            "-acceptnonstdtxn=0".into(),
        ]
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.client.get_block_count() {
                Ok(_) => return Ok(()),
                Err(e) => {
                    if let Some(child) = self.child.as_mut() {
                        if let Some(status) = child.try_wait().context("waiting for bitcoind")? {
                            self.child = None;
                            bail!("bitcoind exited with {status} before its RPC answered");
                        }
                    }
                    if Instant::now() >= deadline {
                        bail!("bitcoind's RPC did not answer within {READY_TIMEOUT:?}: {e}");
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn load_wallet(&self) -> anyhow::Result<()> {
        let loaded = self.client.list_wallets().context("listwallets")?;
        if loaded.iter().any(|w| w == WALLET) {
            return Ok(());
        }
        let on_disk: serde_json::Value = self
            .client
            .call("listwalletdir", &[])
            .context("listwalletdir")?;
        let exists = on_disk["wallets"]
            .as_array()
            .is_some_and(|ws| ws.iter().any(|w| w["name"] == WALLET));
        if exists {
            self.client
                .call::<serde_json::Value>("loadwallet", &[serde_json::json!(WALLET)])
                .context("loadwallet")?;
        } else {
            self.client
                .call::<serde_json::Value>("createwallet", &[serde_json::json!(WALLET)])
                .context("createwallet")?;
        }
        Ok(())
    }

    /// The last lines of the node's stdio and debug logs, for error messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for path in [self.datadir().join("stdio.log"), self.debug_log()] {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(&path) {
                let _ = f.read_to_string(&mut text);
            }
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(20);
            out.push_str(&format!("== {}\n", path.display()));
            for l in &lines[from..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for BitcoinD {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The code and message of a JSON-RPC error response, `None` for other errors (transport,
/// decoding).
pub fn rpc_error(e: &bitcoincore_rpc::Error) -> Option<(i32, &str)> {
    match e {
        bitcoincore_rpc::Error::JsonRpc(bitcoincore_rpc::jsonrpc::Error::Rpc(r)) => {
            Some((r.code, r.message.as_str()))
        }
        _ => None,
    }
}

fn connect(rpc_port: u16, password: &str) -> anyhow::Result<Client> {
    Client::new(
        &format!("http://127.0.0.1:{rpc_port}"),
        Auth::UserPass(RPC_USER.to_string(), password.to_string()),
    )
    .context("creating the RPC client")
}
