//! Ballast's gRPC server: the module query services, `cosmos.tx.v1beta1.Service`, the
//! consumer chains' `ballast.consumer.v1.Consumer`, gRPC health and server reflection, on one
//! listener, in plaintext or TLS ([`GrpcServerConfig`]).
//!
//! Queries answer from the last committed state (or the height in the `x-cosmos-block-height`
//! header, as Cosmos SDK nodes do) through [`App::query`], on tokio's blocking pool; they never
//! take the consensus lock. Txs reach consensus only through the [`Broadcaster`] the node
//! passes in. Each call runs in a `grpc` tracing span named after its method. Errors are gRPC
//! statuses with the Ballast (codespace, code) in the `x-ballast-codespace` / `x-ballast-code`
//! metadata (see [`status`]).

// tonic's handlers return `Result<_, Status>` by value; the helpers here do the same.
#![allow(clippy::result_large_err)]

pub mod consumer;
mod module_query;
mod query;
pub mod status;
mod tx_service;

pub use tx_service::TX_TYPE_URL;

use crate::broadcast::Broadcaster;
use crate::config::GrpcServerConfig;
use crate::App;
use ballast_proto::ballast::accounts::v1::query_server as accounts_server;
use ballast_proto::ballast::btclightclient::v1::query_server as btclightclient_server;
use ballast_proto::ballast::checkpointing::v1::query_server as checkpointing_server;
use ballast_proto::ballast::consumer::v1::consumer_server;
use ballast_proto::ballast::consumers::v1::query_server as consumers_server;
use ballast_proto::ballast::restaking::v1::query_server as restaking_server;
use ballast_proto::cosmos::auth::v1beta1::query_server as auth_server;
use ballast_proto::cosmos::bank::v1beta1::query_server as bank_server;
use ballast_proto::cosmos::tx::v1beta1::service_server as tx_server;
use std::future::Future;
use std::sync::Arc;
use tonic_health::ServingStatus;

/// Request and response metadata key of the queried height.
pub const BLOCK_HEIGHT_HEADER: &str = "x-cosmos-block-height";

/// The application services served, as health and reflection list them.
pub const SERVICES: &[&str] = &[
    accounts_server::SERVICE_NAME,
    bank_server::SERVICE_NAME,
    auth_server::SERVICE_NAME,
    tx_server::SERVICE_NAME,
    btclightclient_server::SERVICE_NAME,
    checkpointing_server::SERVICE_NAME,
    restaking_server::SERVICE_NAME,
    consumers_server::SERVICE_NAME,
    consumer_server::SERVICE_NAME,
];

/// Reflection also lists itself (both versions) and the health service.
const INFRA_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Why the gRPC server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The descriptor set for reflection is broken (a build problem).
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The settings are out of range.
    #[error("gRPC settings: {0}")]
    Config(String),
    /// A TLS file cannot be read.
    #[error("cannot read the gRPC TLS {what} file {path}: {source}")]
    TlsFile {
        /// `certificate` or `key`.
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("cannot serve TLS with the certificate {cert} and key {key}: {source}")]
    Tls {
        /// The certificate file.
        cert: std::path::PathBuf,
        /// The key file.
        key: std::path::PathBuf,
        /// Why.
        source: tonic::transport::Error,
    },
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ballast_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET);
    for name in SERVICES.iter().chain(INFRA_SERVICES) {
        builder = builder.with_service_name(*name);
    }
    builder
}

/// Serves every service on `listener` in plaintext with the default settings until `shutdown`
/// completes (then in-flight calls finish and the function returns).
pub async fn serve(
    app: App,
    broadcaster: Arc<dyn Broadcaster>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    serve_with(
        app,
        broadcaster,
        listener,
        GrpcServerConfig::default(),
        shutdown,
    )
    .await
}

/// The TLS settings of `config`, reading its files (`None` for plaintext).
fn tls_config(
    config: &GrpcServerConfig,
) -> Result<Option<tonic::transport::ServerTlsConfig>, GrpcError> {
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    let read = |what: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| GrpcError::TlsFile {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    let cert = read("certificate", &files.cert)?;
    let key = read("key", &files.key)?;
    Ok(Some(
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key)),
    ))
}

/// [`serve`] with node settings: TLS when `config.tls` names a certificate and key, and the
/// stream subscribers' buffer size. Also runs the stream dispatcher for the server's lifetime.
pub async fn serve_with(
    app: App,
    broadcaster: Arc<dyn Broadcaster>,
    listener: tokio::net::TcpListener,
    config: GrpcServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    config.validate().map_err(GrpcError::Config)?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls_config(&config)? {
        let files = config
            .tls
            .as_ref()
            .expect("tls_config returns Some only when config.tls is set");
        builder = builder.tls_config(tls).map_err(|source| GrpcError::Tls {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    for name in SERVICES {
        health
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = reflection_builder().build_v1()?;
    let reflection_v1alpha = reflection_builder().build_v1alpha()?;

    let (dispatcher, dispatcher_task) = consumer::Dispatcher::spawn(
        app.clone(),
        app.subscribe_commits(),
        config.subscriber_buffer,
    );
    // Stops the dispatcher however the server ends.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _dispatcher_task = AbortOnDrop(dispatcher_task);

    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, tls = config.tls.is_some(), subscriber_buffer = config.subscriber_buffer, "gRPC server listening");
    builder
        .trace_fn(|req| tracing::info_span!("grpc", method = %req.uri().path()))
        .add_service(accounts_server::QueryServer::new(query::AccountsQuery {
            app: app.clone(),
        }))
        .add_service(bank_server::QueryServer::new(query::BankQuery {
            app: app.clone(),
        }))
        .add_service(auth_server::QueryServer::new(query::AuthQuery {
            app: app.clone(),
        }))
        .add_service(btclightclient_server::QueryServer::new(
            module_query::BtcLightClientQuery { app: app.clone() },
        ))
        .add_service(checkpointing_server::QueryServer::new(
            module_query::CheckpointingQuery { app: app.clone() },
        ))
        .add_service(restaking_server::QueryServer::new(
            module_query::RestakingQuery { app: app.clone() },
        ))
        .add_service(consumers_server::QueryServer::new(
            module_query::ConsumersQuery { app: app.clone() },
        ))
        .add_service(consumer_server::ConsumerServer::new(
            consumer::ConsumerService {
                app: app.clone(),
                dispatcher,
            },
        ))
        .add_service(tx_server::ServiceServer::new(tx_service::TxService {
            app,
            broadcaster,
        }))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    tracing::info!(addr = ?addr, "gRPC server stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GrpcTlsFiles;

    struct NoBroadcast;
    impl Broadcaster for NoBroadcast {
        fn broadcast(
            &self,
            _tx: Vec<u8>,
            _mode: crate::broadcast::BroadcastMode,
        ) -> crate::broadcast::BroadcastFuture {
            Box::pin(async {
                Err(crate::broadcast::BroadcastError::Unavailable(
                    "no consensus in this test".into(),
                ))
            })
        }
    }

    async fn start(config: GrpcServerConfig) -> Result<(), GrpcError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let app = App::open(crate::AppConfig::new(dir.path())).expect("a fresh store opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        serve_with(
            app,
            Arc::new(NoBroadcast),
            listener,
            config,
            std::future::ready(()),
        )
        .await
    }

    #[tokio::test]
    async fn unreadable_or_invalid_tls_files_and_a_zero_buffer_stop_the_server_with_a_clear_error()
    {
        let dir = tempfile::tempdir().expect("a temp dir");
        let missing = GrpcServerConfig {
            tls: Some(GrpcTlsFiles {
                cert: dir.path().join("none.crt"),
                key: dir.path().join("none.key"),
            }),
            ..GrpcServerConfig::default()
        };
        let e = start(missing).await.expect_err("missing files");
        assert!(
            matches!(
                e,
                GrpcError::TlsFile {
                    what: "certificate",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("none.crt"), "{e}");

        let cert = dir.path().join("bad.crt");
        let key = dir.path().join("bad.key");
        std::fs::write(&cert, "not a certificate").expect("write");
        std::fs::write(&key, "not a key").expect("write");
        let garbage = GrpcServerConfig {
            tls: Some(GrpcTlsFiles { cert, key }),
            ..GrpcServerConfig::default()
        };
        let e = start(garbage).await.expect_err("garbage PEM");
        assert!(matches!(e, GrpcError::Tls { .. }), "{e}");

        let zero = GrpcServerConfig {
            subscriber_buffer: 0,
            ..GrpcServerConfig::default()
        };
        let e = start(zero).await.expect_err("zero buffer");
        assert!(e.to_string().contains("subscriber buffer"), "{e}");

        // Plaintext with the defaults serves (and stops at once here).
        start(GrpcServerConfig::default())
            .await
            .expect("plaintext serves");
    }
}
