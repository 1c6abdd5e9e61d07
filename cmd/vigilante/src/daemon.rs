//! Running the submitter and the reporter until a signal.
//!
//! Each runs as its own task in a poll loop. A failed tick is logged and retried: after the
//! poll interval when something was refused, with exponential backoff (up to
//! [`MAX_BACKOFF`]) when bitcoind or Ballast could not be reached, so restarts of either node
//! are ridden out. A panic in a task stops the daemon with the task's name in the log.

use crate::ballast::Ballast;
use crate::btc::BtcRpc;
use crate::config::Config;
use crate::fault::FaultPoint;
use crate::reporter::Reporter;
use crate::state::StateStore;
use crate::submitter::Submitter;
use anyhow::Context;
use ballast_client::keyring::{Backend, Keyring};
use ballast_client::txbuild::{Gas, TxOptions};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Loads the signing key from the configured keyring.
pub fn load_key(cfg: &Config) -> anyhow::Result<ballast_client::keyring::SigningKey> {
    load_keyring_key(
        &cfg.ballast.keyring_dir,
        &cfg.ballast.keyring_backend,
        &cfg.ballast.key_name,
    )
}

/// Loads key `name` from the keyring in `dir` with backend `backend` ("test", or "file", which
/// asks for the passphrase). The daemons that pay for their Ballast txs share it.
pub fn load_keyring_key(
    dir: &std::path::Path,
    backend: &str,
    name: &str,
) -> anyhow::Result<ballast_client::keyring::SigningKey> {
    let backend = Backend::from_str(backend)?;
    let kr = match backend {
        Backend::Test => Keyring::open(dir, backend, None)?,
        Backend::File => {
            let pass = ballast_client::keyring::input::keyring_passphrase(false)
                .context("reading the keyring passphrase")?;
            Keyring::open(dir, backend, Some(pass))?
        }
    };
    kr.signing_key(name).with_context(|| {
        format!(
            "loading key {name:?} from the {backend} keyring in {}",
            dir.display()
        )
    })
}

fn tx_options(cfg: &Config) -> anyhow::Result<TxOptions> {
    let mut opts = TxOptions::new(&cfg.ballast.chain_id);
    opts.gas = Gas::Auto;
    opts.gas_adjustment = cfg.ballast.gas_adjustment.parse().map_err(|e| {
        anyhow::anyhow!(
            "ballast.gas_adjustment {:?}: {e}",
            cfg.ballast.gas_adjustment
        )
    })?;
    if !cfg.ballast.gas_prices.is_empty() {
        opts.gas_prices = Some(ballast_client::txbuild::parse_gas_price(
            &cfg.ballast.gas_prices,
        )?);
    }
    Ok(opts)
}

/// One poll of a task.
pub trait Poll {
    /// The error of a poll.
    type Error: std::fmt::Display + Unreachable + Send;
    /// Polls once.
    fn poll(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl Poll for Submitter {
    type Error = crate::submitter::SubmitterError;
    fn poll(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.tick()
    }
}

impl Poll for Reporter {
    type Error = crate::reporter::ReporterError;
    fn poll(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.tick()
    }
}

/// Runs a poll loop until `stop` turns true.
async fn poll_loop<T: Poll>(
    name: &'static str,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut task: T,
) {
    let mut backoff = interval;
    loop {
        let wait = match task.poll().await {
            Ok(()) => {
                backoff = interval;
                interval
            }
            Err(e) if e.unreachable() => {
                tracing::warn!(task = %name, error = %e, retry_in_ms = backoff.as_millis() as u64, "a node is unreachable; retrying");
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                w
            }
            Err(e) => {
                tracing::warn!(task = %name, error = %e, "poll failed; retrying");
                interval
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Errors that can say whether a node was unreachable.
pub trait Unreachable {
    /// Whether a node could not be reached.
    fn unreachable(&self) -> bool;
}

impl Unreachable for crate::submitter::SubmitterError {
    fn unreachable(&self) -> bool {
        self.is_unreachable()
    }
}

impl Unreachable for crate::reporter::ReporterError {
    fn unreachable(&self) -> bool {
        self.is_unreachable()
    }
}

/// Checks that bitcoind and Ballast follow the configured network; waits (with backoff) while
/// either cannot be reached.
async fn check_networks(
    cfg: &Config,
    btc: &Arc<BtcRpc>,
    ballast: &Ballast,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let want = cfg.bitcoin_network()?;
    let mut backoff = Duration::from_millis(500);
    loop {
        let outcome = async {
            let (chain, height, _) = btc.chain_info().await.map_err(|e| (true, e.to_string()))?;
            let (lc_network, _) = ballast
                .lc_params()
                .await
                .map_err(|e| (true, e.to_string()))?;
            Ok::<_, (bool, String)>((chain, height, lc_network))
        }
        .await;
        match outcome {
            Ok((chain, height, lc_network)) => {
                let btc_net = crate::config::network_from_name(&chain);
                if btc_net != Some(want) {
                    anyhow::bail!(
                        "bitcoind follows chain {chain:?}, expected {} (bitcoin.network)",
                        cfg.bitcoin.network
                    );
                }
                if crate::config::network_from_name(&lc_network) != Some(want) {
                    anyhow::bail!(
                        "ballast's light client follows {lc_network:?}, expected {} (bitcoin.network)",
                        cfg.bitcoin.network
                    );
                }
                tracing::info!(network = %cfg.bitcoin.network, btc_height = height, "bitcoind and ballast follow the same network");
                return Ok(true);
            }
            Err((_, e)) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "waiting for bitcoind and ballast");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return Ok(false);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    cfg.validate()?;
    let fault = FaultPoint::from_env().map_err(anyhow::Error::msg)?;
    let key = load_key(&cfg)?;
    let ballast = Arc::new(Ballast::new(
        &cfg.ballast.rpc_address,
        &cfg.ballast.grpc_address,
        key,
        tx_options(&cfg)?,
        Duration::from_secs(cfg.ballast.tx_timeout_secs),
    )?);
    let btc = Arc::new(BtcRpc::new(
        &cfg.bitcoin.rpc_url,
        &cfg.bitcoin.wallet,
        cfg.bitcoin_auth()?,
        cfg.bitcoin_network()?,
    ));
    let store = StateStore::open(&cfg.data_dir)?;
    let submitter = Submitter::new(
        btc.clone(),
        ballast.clone(),
        cfg.submitter.clone(),
        store,
        fault,
    )?;
    tracing::info!(
        account = %ballast.address(),
        ballast_rpc = %cfg.ballast.rpc_address,
        bitcoind = %cfg.bitcoin.rpc_url,
        wallet = %cfg.bitcoin.wallet,
        data_dir = %cfg.data_dir.display(),
        submitter = cfg.submitter.enable,
        reporter = cfg.reporter.enable,
        "ballast-vigilante starting"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let signal_tx = stop_tx.clone();
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; stopping");
        let _ = signal_tx.send(true);
    });
    let mut check_rx = stop_rx.clone();
    if !check_networks(&cfg, &btc, &ballast, &mut check_rx).await? {
        tracing::info!("stopped before starting");
        return Ok(());
    }

    // Each loop runs in its own task; a panic in one stops the daemon with the task's name.
    let mut set = tokio::task::JoinSet::new();
    if cfg.submitter.enable {
        let interval = cfg.submitter_interval();
        let rx = stop_rx.clone();
        let task =
            tokio::spawn(async move { poll_loop("submitter", interval, rx, submitter).await });
        set.spawn(async move { ("submitter", task.await) });
    }
    if cfg.reporter.enable {
        let reporter = Reporter::new(btc.clone(), ballast.clone(), cfg.reporter.clone());
        let interval = cfg.reporter_interval();
        let rx = stop_rx.clone();
        let task = tokio::spawn(async move { poll_loop("reporter", interval, rx, reporter).await });
        set.spawn(async move { ("reporter", task.await) });
    }
    let mut failed = None;
    while let Some(joined) = set.join_next().await {
        let Ok((name, result)) = joined else {
            continue;
        };
        if let Err(e) = result {
            tracing::error!(task = %name, error = %e, "task panicked; stopping the daemon");
            failed.get_or_insert(name);
            let _ = stop_tx.send(true);
        }
    }
    signals.abort();
    if let Some(name) = failed {
        anyhow::bail!("the {name} task panicked");
    }
    tracing::info!("ballast-vigilante stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
