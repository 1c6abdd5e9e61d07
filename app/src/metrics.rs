//! Prometheus metrics, served on `127.0.0.1:26660/metrics` by `ballastd start` and `ballastd dev`.
//!
//! Metrics never feed back into state: the clock read here only times calls for operators.

// Timing and float-valued histograms are the point of this module; nothing here reaches state.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::float_arithmetic
)]

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The node's metrics, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    /// Last committed height.
    pub height: IntGauge,
    /// FinalizeBlock wall time.
    pub block_execution: Histogram,
    /// Commit (fsync) wall time.
    pub commit: Histogram,
    /// Txs per finalized block.
    pub block_txs: Histogram,
    /// Txs finalized since start.
    pub txs_total: IntCounter,
    /// Txs admitted by CheckTx since the last commit (after rechecks: the mempool's size).
    pub mempool_size: IntGauge,
    /// Always 1, labelled with the build's version.
    pub build_info: IntGaugeVec,
    /// gRPC stream subscribers connected now, by stream (`validator_set`, `checkpoints`).
    pub grpc_subscribers: IntGaugeVec,
    /// gRPC stream subscribers cut off because their buffer was full, by stream.
    pub grpc_subscribers_cut_off: IntCounterVec,
    /// Updates a validator-set stream had to refill from the store because the dispatcher
    /// skipped them (0 unless the dispatcher has a bug; the client never sees a gap).
    pub grpc_stream_gaps_filled: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("height", &self.height.get())
            .finish_non_exhaustive()
    }
}

fn must<T>(r: prometheus::Result<T>) -> T {
    r.expect("metric names and labels are static and valid, and each is registered once")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every Ballast metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let height = must(IntGauge::new(
            "ballast_block_height",
            "Height of the last committed block.",
        ));
        let block_execution = must(Histogram::with_opts(
            HistogramOpts::new(
                "ballast_block_execution_seconds",
                "Time spent in FinalizeBlock.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        ));
        let commit = must(Histogram::with_opts(
            HistogramOpts::new(
                "ballast_commit_seconds",
                "Time spent in Commit (writing and fsyncing the block's state).",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        ));
        let block_txs = must(Histogram::with_opts(
            HistogramOpts::new("ballast_block_txs", "Transactions per finalized block.").buckets(
                vec![
                    0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0,
                ],
            ),
        ));
        let txs_total = must(IntCounter::new(
            "ballast_txs_total",
            "Transactions finalized since the node started.",
        ));
        let mempool_size = must(IntGauge::new(
            "ballast_mempool_size",
            "Transactions admitted by CheckTx on top of the last committed state.",
        ));
        let build_info = must(IntGaugeVec::new(
            Opts::new("ballast_build_info", "Build information (always 1)."),
            &["version", "app_version"],
        ));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), &crate::APP_VERSION.to_string()])
            .set(1);
        let grpc_subscribers = must(IntGaugeVec::new(
            Opts::new(
                "ballast_grpc_subscribers",
                "gRPC stream subscribers connected now.",
            ),
            &["stream"],
        ));
        let grpc_subscribers_cut_off = must(IntCounterVec::new(
            Opts::new(
                "ballast_grpc_subscribers_cut_off_total",
                "gRPC stream subscribers cut off with RESOURCE_EXHAUSTED because their buffer was full.",
            ),
            &["stream"],
        ));
        let grpc_stream_gaps_filled = must(IntCounter::new(
            "ballast_grpc_stream_gaps_filled_total",
            "Updates a validator-set stream refilled from the store because the dispatcher skipped them.",
        ));
        for stream in ["validator_set", "checkpoints"] {
            grpc_subscribers.with_label_values(&[stream]).set(0);
            grpc_subscribers_cut_off
                .with_label_values(&[stream])
                .reset();
        }
        for c in [
            Box::new(height.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(block_execution.clone()),
            Box::new(commit.clone()),
            Box::new(block_txs.clone()),
            Box::new(txs_total.clone()),
            Box::new(mempool_size.clone()),
            Box::new(build_info.clone()),
            Box::new(grpc_subscribers.clone()),
            Box::new(grpc_subscribers_cut_off.clone()),
            Box::new(grpc_stream_gaps_filled.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            height,
            block_execution,
            commit,
            block_txs,
            txs_total,
            mempool_size,
            build_info,
            grpc_subscribers,
            grpc_subscribers_cut_off,
            grpc_stream_gaps_filled,
        }
    }

    /// Starts timing into `h`; the time is recorded when the guard drops.
    pub fn timer(h: &Histogram) -> Timer {
        Timer {
            h: h.clone(),
            start: Instant::now(),
        }
    }

    /// Records a finalized block's tx count.
    pub fn observe_block(&self, txs: usize) {
        self.block_txs.observe(txs as f64);
        self.txs_total
            .inc_by(u64::try_from(txs).unwrap_or(u64::MAX));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Records the elapsed time into a histogram when dropped.
pub struct Timer {
    h: Histogram,
    start: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.h.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Serves `GET /metrics` (and `/`) until `shutdown` resolves.
pub async fn serve(
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handler = move || {
        let m = metrics.clone();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                m.render(),
            )
        }
    };
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(handler.clone()))
        .route("/", axum::routing::get(handler));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_value() {
        let m = Metrics::new();
        m.height.set(42);
        m.observe_block(3);
        m.mempool_size.set(7);
        {
            let _t = Metrics::timer(&m.block_execution);
        }
        let text = m.render();
        assert!(text.contains("ballast_block_height 42"), "{text}");
        assert!(text.contains("ballast_txs_total 3"), "{text}");
        assert!(text.contains("ballast_mempool_size 7"), "{text}");
        m.grpc_subscribers
            .with_label_values(&["validator_set"])
            .set(5);
        assert!(
            m.render()
                .contains("ballast_grpc_subscribers{stream=\"validator_set\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("ballast_block_execution_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("ballast_block_txs_count 1"), "{text}");
        assert!(
            text.contains(&format!(
                "ballast_build_info{{app_version=\"{}\",version=\"{}\"}} 1",
                crate::APP_VERSION,
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
    }
}
