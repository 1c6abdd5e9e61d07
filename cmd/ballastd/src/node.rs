//! What `ballastd start` and `ballastd dev` share: the servers beside consensus (gRPC,
//! metrics), critical tasks that stop the node when they fail, and shutdown on SIGINT/SIGTERM.

use ballast_app::broadcast::Broadcaster;
use ballast_app::config::GrpcServerConfig;
use ballast_app::App;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// Tells every server to stop.
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    /// A shutdown signal nobody has pulled yet.
    pub fn new() -> Shutdown {
        let (tx, _) = watch::channel(false);
        Shutdown { tx: Arc::new(tx) }
    }

    /// Pulls it.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once [`Shutdown::trigger`] ran.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // An error means the sender is gone, which also means: stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// Runs `fut` as a critical task: if it fails, the node stops with the task's name in the log
/// instead of running on half-alive.
pub fn spawn_critical<E: std::fmt::Display>(
    name: &'static str,
    fut: impl Future<Output = Result<(), E>> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::error!(task = name, error = %e, "critical task failed; stopping the node");
            eprintln!("ballastd: {name} failed: {e}");
            std::process::exit(1);
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Starts gRPC on `addr` (if given): the module Query services, `cosmos.tx.v1beta1.Service`,
/// the consumer service, health and reflection, in TLS when `config` says so. Prints the line
/// scripts wait for.
pub async fn start_grpc(
    app: &App,
    broadcaster: Arc<dyn Broadcaster>,
    addr: Option<&str>,
    config: GrpcServerConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for gRPC on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    if let Some(tls) = &config.tls {
        // Fail at start, not at the first connection, on unreadable files.
        for (what, path) in [("certificate", &tls.cert), ("key", &tls.key)] {
            std::fs::metadata(path)
                .map_err(|e| anyhow::anyhow!("gRPC TLS {what} file {}: {e}", path.display()))?;
        }
    }
    let scheme = if config.tls.is_some() {
        "TLS"
    } else {
        "plaintext"
    };
    tracing::info!(%local, scheme, "serving gRPC");
    println!("gRPC listening on {local}");
    Ok(Some(spawn_critical(
        "grpc",
        ballast_app::grpc::serve_with(app.clone(), broadcaster, listener, config, shutdown.wait()),
    )))
}

/// Starts the Prometheus endpoint on `addr` (if given).
pub async fn start_metrics(
    app: &App,
    addr: Option<&str>,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "serving Prometheus metrics");
    println!("metrics listening on {local}");
    Ok(Some(spawn_critical(
        "metrics",
        ballast_app::metrics::serve(app.metrics(), listener, shutdown.wait()),
    )))
}

/// Stops the servers, waits (bounded) for them, then closes the store.
pub async fn stop(app: &App, shutdown: &Shutdown, tasks: Vec<tokio::task::JoinHandle<()>>) {
    shutdown.trigger();
    for t in tasks {
        if tokio::time::timeout(std::time::Duration::from_secs(5), t)
            .await
            .is_err()
        {
            tracing::warn!("a server did not stop within 5 s; closing the store anyway");
        }
    }
    app.shutdown();
}
