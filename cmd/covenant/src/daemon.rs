//! Running the signer until a signal.
//!
//! The poll loop runs as its own task. A failed poll is logged and retried: after the poll
//! interval when something was refused, with exponential backoff (up to [`MAX_BACKOFF`]) while
//! Ballast cannot be reached, so node restarts are ridden out. SIGINT or SIGTERM stops the loop
//! at once, even in the middle of a poll; a panic in the task stops the daemon with its name in
//! the log and a failing exit code.

use crate::config::Config;
use crate::signer::{CovenantChain, Signer};
use anyhow::Context;
use ballast_client::keyring::SigningKey;
use ballast_client::txbuild::{Gas, TxOptions};
use ballast_vigilante::ballast::Ballast;
use std::time::Duration;
use tokio::sync::watch;

/// The longest wait between retries while Ballast cannot be reached.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// File in `data_dir` that gets one JSON line per signed delegation.
pub const RECORD_FILE: &str = "signed.jsonl";

/// Loads the account key that pays for `MsgAddCovenantSigs` from the configured keyring.
pub fn load_account_key(cfg: &Config) -> anyhow::Result<SigningKey> {
    ballast_vigilante::daemon::load_keyring_key(
        &cfg.ballast.keyring_dir,
        &cfg.ballast.keyring_backend,
        &cfg.ballast.key_name,
    )
}

/// How txs are signed and paid for.
pub fn tx_options(cfg: &Config) -> anyhow::Result<TxOptions> {
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

/// Polls until `stop` turns true: the poll interval after a poll, doubling backoff while the
/// node cannot be reached.
pub async fn poll_loop<C: CovenantChain>(
    mut signer: Signer<C>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = interval;
    let mut cancel = stop.clone();
    loop {
        // A stop request also cuts a poll short while it waits on the node (for a tx to be
        // included, say): what was sent is on chain or not, and the next start reads it there.
        let polled = tokio::select! {
            r = signer.poll(&stop) => r,
            _ = cancel.wait_for(|stopped| *stopped) => return,
        };
        let wait = match polled {
            Ok(out) => {
                backoff = interval;
                if out.signed > 0 || out.refused > 0 || out.rejected > 0 {
                    tracing::debug!(?out, "poll done");
                }
                interval
            }
            Err(e) if e.is_unreachable() => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ballast is unreachable; retrying");
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF.max(interval));
                w
            }
            Err(e) => {
                tracing::warn!(error = %e, "poll failed; retrying");
                interval
            }
        };
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    cfg.validate()?;
    let covenant_key = ballast_client::btc_key::load_btc_key(&cfg.covenant.key_file)
        .context("loading the covenant key (covenant.key_file)")?;
    let account = load_account_key(&cfg)?;
    let ballast = Ballast::new(
        &cfg.ballast.rpc_address,
        &cfg.ballast.grpc_address,
        account,
        tx_options(&cfg)?,
        Duration::from_secs(cfg.ballast.tx_timeout_secs),
    )?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data_dir {}", cfg.data_dir.display()))?;
    let signer = Signer::new(
        ballast,
        covenant_key,
        cfg.covenant.page_limit,
        Some(cfg.data_dir.join(RECORD_FILE)),
    );
    tracing::info!(
        covenant_pk = %hex::encode(signer.covenant_pk().serialize()),
        account = %signer.chain().signer_address(),
        ballast_rpc = %cfg.ballast.rpc_address,
        ballast_grpc = %cfg.ballast.grpc_address,
        poll_interval_ms = cfg.covenant.poll_interval_ms,
        "ballast-covenant starting"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; stopping");
        let _ = stop_tx.send(true);
    });
    let interval = cfg.poll_interval();
    let task = tokio::spawn(poll_loop(signer, interval, stop_rx));
    let joined = task.await;
    signals.abort();
    if let Err(e) = joined {
        tracing::error!(task = "signer", error = %e, "task panicked; stopping the daemon");
        anyhow::bail!("the signer task panicked");
    }
    tracing::info!("ballast-covenant stopped");
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
