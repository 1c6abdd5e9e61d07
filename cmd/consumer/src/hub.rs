//! The hub: its `ballast.consumer.v1.Consumer` gRPC service (plain or TLS), and the signed
//! `register` and `fund` txs, sent through the connection the other daemons use
//! ([`ballast_vigilante::ballast::Ballast`]).

use crate::config::{Config, HubConfig, TermsConfig};
use anyhow::Context;
use ballast_client::rpc::CometRpc;
use ballast_client::txbuild::{Gas, TxOptions};
use ballast_proto::ballast::consumer::v1 as svc;
use ballast_proto::ballast::consumer::v1::consumer_client::ConsumerClient;
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_vigilante::ballast::Ballast;
use prost::Message;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Type URL of `MsgRegisterConsumer`.
pub const MSG_REGISTER_CONSUMER: &str = "/ballast.consumers.v1.MsgRegisterConsumer";
/// Type URL of `MsgFundLease`.
pub const MSG_FUND_LEASE: &str = "/ballast.consumers.v1.MsgFundLease";

/// How long a unary gRPC call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The gRPC URI of `grpc_address`: `https://` when a CA file is configured and no scheme is
/// given, `http://` otherwise.
pub fn grpc_uri(hub: &HubConfig) -> String {
    let a = hub.grpc_address.trim_end_matches('/');
    if a.contains("://") {
        a.to_string()
    } else if hub.tls_ca_file.as_os_str().is_empty() {
        format!("http://{a}")
    } else {
        format!("https://{a}")
    }
}

/// A lazily connected channel to the hub's gRPC, with TLS when a CA file is configured.
pub fn channel(hub: &HubConfig) -> anyhow::Result<Channel> {
    let uri = grpc_uri(hub);
    let mut ep = Endpoint::from_shared(uri.clone())
        .with_context(|| format!("hub.grpc_address {:?}", hub.grpc_address))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    if !hub.tls_ca_file.as_os_str().is_empty() {
        if uri.starts_with("http://") {
            anyhow::bail!(
                "hub.grpc_address {uri} is plain http but hub.tls_ca_file is set: use https:// or no scheme"
            );
        }
        let pem = std::fs::read(&hub.tls_ca_file)
            .with_context(|| format!("reading hub.tls_ca_file {}", hub.tls_ca_file.display()))?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        if !hub.tls_domain.is_empty() {
            tls = tls.domain_name(hub.tls_domain.clone());
        }
        ep = ep
            .tls_config(tls)
            .context("configuring TLS for the hub's gRPC")?;
    }
    Ok(ep.connect_lazy())
}

/// The hub's consumer service.
#[derive(Clone)]
pub struct Hub {
    client: ConsumerClient<Channel>,
}

fn timed<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(CALL_TIMEOUT);
    r
}

impl Hub {
    /// A client of the hub's gRPC (nothing is contacted yet).
    pub fn new(hub: &HubConfig) -> anyhow::Result<Hub> {
        Ok(Hub {
            client: ConsumerClient::new(channel(hub)?),
        })
    }

    /// `GetConsumer`.
    pub async fn consumer(
        &self,
        consumer_id: &str,
    ) -> Result<svc::GetConsumerResponse, tonic::Status> {
        let r = self
            .client
            .clone()
            .get_consumer(timed(svc::GetConsumerRequest {
                consumer_id: consumer_id.to_string(),
            }))
            .await?;
        Ok(r.into_inner())
    }

    /// `GetValidatorSet` at `height` (0: latest), with a proof when `prove`.
    pub async fn validator_set(
        &self,
        consumer_id: &str,
        height: u64,
        prove: bool,
    ) -> Result<svc::GetValidatorSetResponse, tonic::Status> {
        let r = self
            .client
            .clone()
            .get_validator_set(timed(svc::GetValidatorSetRequest {
                consumer_id: consumer_id.to_string(),
                height,
                prove,
            }))
            .await?;
        Ok(r.into_inner())
    }

    /// `SubscribeValidatorSet` from `from_update_id` (updates above it).
    pub async fn subscribe(
        &self,
        consumer_id: &str,
        from_update_id: u64,
    ) -> Result<tonic::Streaming<pb::ValidatorSetUpdate>, tonic::Status> {
        let r = self
            .client
            .clone()
            .subscribe_validator_set(svc::SubscribeValidatorSetRequest {
                consumer_id: consumer_id.to_string(),
                from_update_id,
            })
            .await?;
        Ok(r.into_inner())
    }
}

/// The hub's chain id: the configured one, else the one its RPC node reports.
pub async fn chain_id(cfg: &Config) -> anyhow::Result<String> {
    if !cfg.hub.chain_id.is_empty() {
        return Ok(cfg.hub.chain_id.clone());
    }
    let rpc = CometRpc::new(&cfg.hub.rpc_address)?.with_timeout(Duration::from_secs(10));
    let status = rpc
        .status()
        .await
        .context("asking the hub's RPC for its chain id (or set hub.chain_id)")?;
    Ok(status.node_info.network.to_string())
}

/// The connection that signs and sends the consumer's txs with the configured key.
pub async fn signer(cfg: &Config) -> anyhow::Result<Ballast> {
    let key = ballast_vigilante::daemon::load_keyring_key(
        &cfg.hub.keyring_dir,
        &cfg.hub.keyring_backend,
        &cfg.hub.key_name,
    )?;
    let mut opts = TxOptions::new(&chain_id(cfg).await?);
    opts.gas = Gas::Auto;
    opts.gas_adjustment = cfg
        .hub
        .gas_adjustment
        .parse()
        .map_err(|e| anyhow::anyhow!("hub.gas_adjustment {:?}: {e}", cfg.hub.gas_adjustment))?;
    if !cfg.hub.gas_prices.is_empty() {
        opts.gas_prices = Some(ballast_client::txbuild::parse_gas_price(
            &cfg.hub.gas_prices,
        )?);
    }
    // The gRPC address is the consumer service's; the signer's queries go through the RPC.
    Ok(Ballast::new(
        &cfg.hub.rpc_address,
        "",
        key,
        opts,
        Duration::from_secs(cfg.hub.tx_timeout_secs),
    )?)
}

fn any(type_url: &str, msg: &impl Message) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.into(),
        value: msg.encode_to_vec(),
    }
}

/// `MsgRegisterConsumer` for `consumer_id`, owned by `owner`.
pub fn register_msg(owner: &str, consumer_id: &str, terms: &TermsConfig) -> prost_types::Any {
    let mode = match terms.allocation_mode.as_str() {
        "isolated" => pb::AllocationMode::Isolated,
        _ => pb::AllocationMode::Shared,
    };
    let name = if terms.name.is_empty() {
        consumer_id.to_string()
    } else {
        terms.name.clone()
    };
    any(
        MSG_REGISTER_CONSUMER,
        &pb::MsgRegisterConsumer {
            owner: owner.to_string(),
            consumer_id: consumer_id.to_string(),
            terms: Some(pb::ConsumerTerms {
                name,
                fee_per_epoch: terms.fee_per_epoch.clone(),
                min_operators: terms.min_operators,
                max_operators: terms.max_operators,
                double_sign_slash_fraction: terms.double_sign_slash_fraction.clone(),
                jail_epochs: terms.jail_epochs,
            }),
            allocation_mode: mode as i32,
        },
    )
}

/// A ubal amount: `123` or `123ubal`, above 0.
pub fn parse_ubal(s: &str) -> anyhow::Result<String> {
    let digits = s.strip_suffix("ubal").unwrap_or(s);
    let n: u128 = digits.parse().map_err(|_| {
        anyhow::anyhow!(
            "amount {s:?}: expected a whole number of ubal such as 1000000 or 1000000ubal"
        )
    })?;
    if n == 0 {
        anyhow::bail!("amount {s:?}: expected more than 0 ubal");
    }
    Ok(n.to_string())
}

/// `MsgFundLease` paying `amount` ubal into `consumer_id`'s lease.
pub fn fund_msg(funder: &str, consumer_id: &str, amount: &str) -> prost_types::Any {
    any(
        MSG_FUND_LEASE,
        &pb::MsgFundLease {
            funder: funder.to_string(),
            consumer_id: consumer_id.to_string(),
            amount: amount.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_addresses_get_a_scheme_that_matches_the_tls_setting() {
        let mut h = HubConfig {
            grpc_address: "127.0.0.1:9090".into(),
            ..HubConfig::default()
        };
        assert_eq!(grpc_uri(&h), "http://127.0.0.1:9090");
        h.tls_ca_file = "ca.pem".into();
        assert_eq!(grpc_uri(&h), "https://127.0.0.1:9090");
        h.grpc_address = "http://hub:1/".into();
        assert_eq!(grpc_uri(&h), "http://hub:1");
        // A CA file with an explicit http address is a mistake, said before connecting.
        let err = channel(&h).err().unwrap().to_string();
        assert!(err.contains("plain http"), "{err}");
        h.grpc_address = "https://hub:1".into();
        h.tls_ca_file = "/nonexistent/ca.pem".into();
        let err = format!("{:#}", channel(&h).err().unwrap());
        assert!(err.contains("hub.tls_ca_file"), "{err}");
    }

    #[test]
    fn amounts_are_whole_positive_ubal() {
        assert_eq!(parse_ubal("1000").unwrap(), "1000");
        assert_eq!(parse_ubal("25ubal").unwrap(), "25");
        for bad in ["0", "0ubal", "1.5", "10uatom", "", "-3"] {
            assert!(parse_ubal(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_register_message_carries_the_terms_and_the_mode() {
        let terms = TermsConfig {
            allocation_mode: "isolated".into(),
            ..TermsConfig::default()
        };
        let a = register_msg("ballast1owner", "demo-1", &terms);
        assert_eq!(a.type_url, MSG_REGISTER_CONSUMER);
        let m = pb::MsgRegisterConsumer::decode(a.value.as_slice()).unwrap();
        assert_eq!(m.owner, "ballast1owner");
        assert_eq!(m.allocation_mode, pb::AllocationMode::Isolated as i32);
        let t = m.terms.unwrap();
        assert_eq!(t.name, "demo-1");
        assert_eq!(t.fee_per_epoch, "1000");
        assert_eq!(t.max_operators, 10);
        let f = pb::MsgFundLease::decode(fund_msg("f", "demo-1", "7").value.as_slice()).unwrap();
        assert_eq!((f.funder.as_str(), f.amount.as_str()), ("f", "7"));
    }
}
