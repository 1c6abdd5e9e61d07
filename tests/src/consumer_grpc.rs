//! `ballast.consumer.v1.Consumer` against a running `ballastd dev`: a home with short epochs
//! and chosen `[grpc]` settings, a consumer registered and funded by the dev account, the dev
//! validator's operator opted in, and a way to make its validator set change at every epoch
//! end (the operator's allocation alternates), so streams get many updates quickly.

use crate::cli;
use crate::vigilante::DevChain;
use ballast_client::keyring::{Backend, Keyring, SigningKey};
use ballast_client::rpc::CometRpc;
use ballast_client::txbuild::{self, TxOptions};
use ballast_proto::ballast::consumer::v1 as pb;
use ballast_proto::ballast::consumer::v1::consumer_client::ConsumerClient;
use ballast_proto::ballast::consumers::v1 as cpb;
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// The consumer every stream test follows.
pub const CONSUMER_ID: &str = "stream-1";

/// How long a test waits for one thing to happen on the chain.
pub const WAIT: Duration = Duration::from_secs(90);

/// How the dev home is set up.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Blocks per epoch (genesis `app.epoch_length`).
    pub epoch_length: u64,
    /// Time between blocks.
    pub block_interval_ms: u64,
    /// `[grpc] subscriber_buffer`.
    pub subscriber_buffer: usize,
    /// `[grpc] tls_cert_file` and `tls_key_file`, relative to the home.
    pub tls: Option<(String, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            epoch_length: 2,
            block_interval_ms: 100,
            subscriber_buffer: 256,
            tls: None,
        }
    }
}

/// `ballastd init` on `home`, then the epoch length into genesis and the `[grpc]` settings
/// into `ballast.toml`, before the chain's first block.
pub fn init_home(home: &Path, setup: &Setup) {
    let out = cli::run(home, &["init", "dev"]);
    assert!(
        out.status.success(),
        "ballastd init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gpath = home.join("config/genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gpath).unwrap()).unwrap();
    genesis["app_state"]["app"]["epoch_length"] = setup.epoch_length.into();
    std::fs::write(&gpath, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
    let tpath = home.join("config/ballast.toml");
    let mut toml = std::fs::read_to_string(&tpath).unwrap();
    let replace = |toml: &mut String, from: &str, to: String| {
        assert!(toml.contains(from), "ballast.toml has no {from:?}");
        *toml = toml.replace(from, &to);
    };
    replace(
        &mut toml,
        "subscriber_buffer = 256",
        format!("subscriber_buffer = {}", setup.subscriber_buffer),
    );
    if let Some((cert, key)) = &setup.tls {
        replace(
            &mut toml,
            "tls_cert_file = \"\"",
            format!("tls_cert_file = {cert:?}"),
        );
        replace(
            &mut toml,
            "tls_key_file = \"\"",
            format!("tls_key_file = {key:?}"),
        );
    }
    std::fs::write(&tpath, toml).unwrap();
}

/// Drives [`CONSUMER_ID`] on a dev chain through its RPC and gRPC: registers and funds it,
/// opts the chain's operator in, and changes the operator's allocation to make updates.
pub struct ConsumerDriver {
    home: PathBuf,
    rpc: CometRpc,
    /// gRPC `host:port`.
    pub grpc: String,
    chain_id: String,
    operator: SigningKey,
    operator_owner: String,
    operator_btc_pk: Vec<u8>,
    consumer_pubkey: Vec<u8>,
    high: bool,
}

/// A dev chain (a `ballastd dev` process) with [`CONSUMER_ID`] registered, funded and its
/// operator opted in; it derefs to its [`ConsumerDriver`].
pub struct StreamChain {
    /// The running `ballastd dev`.
    pub chain: DevChain,
    /// Its home.
    pub home: PathBuf,
    /// The consumer's driver.
    pub driver: ConsumerDriver,
}

impl std::ops::Deref for StreamChain {
    type Target = ConsumerDriver;
    fn deref(&self) -> &ConsumerDriver {
        &self.driver
    }
}

impl std::ops::DerefMut for StreamChain {
    fn deref_mut(&mut self) -> &mut ConsumerDriver {
        &mut self.driver
    }
}

/// An ed25519 consumer key (public half) from a seed.
pub fn consumer_pubkey(seed: u8) -> Vec<u8> {
    ed25519_consensus::SigningKey::from([seed; 32])
        .verification_key()
        .to_bytes()
        .to_vec()
}

fn any(type_url: &str, msg: &impl Message) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.into(),
        value: msg.encode_to_vec(),
    }
}

fn address_of(key: &SigningKey) -> String {
    ballast_accounts::pubkey_address(&key.public_key().to_bytes()).to_string()
}

impl StreamChain {
    /// Initialises `home` per `setup`, starts `ballastd dev` on it, registers and funds the
    /// consumer (paid by the dev account) and opts the operator in (the first update follows
    /// at the next epoch end).
    pub async fn start(home: &Path, setup: &Setup) -> StreamChain {
        init_home(home, setup);
        let chain = tokio::task::block_in_place(|| DevChain::start(home, setup.block_interval_ms));
        let mut driver = ConsumerDriver::new(home, &chain.rpc, &chain.grpc);
        driver.register("dev").await;
        driver.opt_in().await;
        StreamChain {
            chain,
            home: home.to_path_buf(),
            driver,
        }
    }
}

impl ConsumerDriver {
    /// A driver for the chain of `home` (its genesis and test keyring) reached at `rpc`
    /// (`http://host:port`) and `grpc` (`host:port`).
    pub fn new(home: &Path, rpc: &str, grpc: &str) -> ConsumerDriver {
        let genesis: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.join("config/genesis.json")).unwrap(),
        )
        .unwrap();
        let keyring = Keyring::open(home, Backend::Test, None).unwrap();
        let operator = keyring.signing_key("operator").unwrap();
        let op_pk =
            crate::btc_staking::key_file_public_key(&home.join("config/operator_btc_key.json"));
        ConsumerDriver {
            home: home.to_path_buf(),
            rpc: CometRpc::new(rpc).unwrap(),
            grpc: grpc.to_string(),
            chain_id: genesis["chain_id"].as_str().unwrap().to_string(),
            operator_owner: address_of(&operator),
            operator,
            operator_btc_pk: hex::decode(op_pk).unwrap(),
            consumer_pubkey: consumer_pubkey(9),
            high: false,
        }
    }

    /// Registers [`CONSUMER_ID`] and funds its lease, paid by the test keyring's key `payer`.
    pub async fn register(&self, payer: &str) {
        let keyring = Keyring::open(&self.home, Backend::Test, None).unwrap();
        let payer = keyring.signing_key(payer).unwrap();
        let owner = address_of(&payer);
        self.send(
            &payer,
            vec![
                any(
                    "/ballast.consumers.v1.MsgRegisterConsumer",
                    &cpb::MsgRegisterConsumer {
                        owner: owner.clone(),
                        consumer_id: CONSUMER_ID.into(),
                        terms: Some(cpb::ConsumerTerms {
                            name: "stream test".into(),
                            fee_per_epoch: "1".into(),
                            min_operators: 1,
                            max_operators: 10,
                            double_sign_slash_fraction: "0.05".into(),
                            jail_epochs: 1,
                        }),
                        allocation_mode: cpb::AllocationMode::Shared as i32,
                    },
                ),
                any(
                    "/ballast.consumers.v1.MsgFundLease",
                    &cpb::MsgFundLease {
                        funder: owner,
                        consumer_id: CONSUMER_ID.into(),
                        amount: "1000000".into(),
                    },
                ),
            ],
        )
        .await;
    }
    /// Signs `msgs` with `key`, broadcasts and waits until the tx is in a block; it must pass.
    pub async fn send(&self, key: &SigningKey, msgs: Vec<prost_types::Any>) {
        let opts = TxOptions::new(&self.chain_id);
        let tx = txbuild::build_and_sign(&self.rpc, key, msgs, &opts)
            .await
            .unwrap();
        let out = txbuild::broadcast(&self.rpc, &tx, Some(WAIT))
            .await
            .unwrap();
        assert_eq!(out.code, 0, "tx failed: {out:?}");
    }

    /// Opts the operator in again with the other of two allocations: at the end of this epoch
    /// its power on the consumer, so the set, changes.
    pub async fn opt_in(&mut self) {
        self.high = !self.high;
        let bps = if self.high { 6000 } else { 5000 };
        let msg = cpb::MsgOptIn {
            owner: self.operator_owner.clone(),
            operator_btc_pk: self.operator_btc_pk.clone(),
            consumer_id: CONSUMER_ID.into(),
            consumer_pubkey: self.consumer_pubkey.clone(),
            allocation_bps: bps,
        };
        self.send(
            &self.operator,
            vec![any("/ballast.consumers.v1.MsgOptIn", &msg)],
        )
        .await;
    }

    /// A gRPC client (plaintext) on a new connection.
    pub async fn client(&self) -> ConsumerClient<Channel> {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.grpc)).unwrap();
        ConsumerClient::new(self.channel(endpoint).await)
    }

    /// Connects `endpoint`, retrying while the node starts.
    pub async fn channel(&self, endpoint: Endpoint) -> Channel {
        let deadline = Instant::now() + WAIT;
        loop {
            match endpoint.connect().await {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => panic!("cannot connect to gRPC: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The consumer's last update id, over gRPC.
    pub async fn last_update_id(&self) -> u64 {
        let mut c = self.client().await;
        c.get_consumer(pb::GetConsumerRequest {
            consumer_id: CONSUMER_ID.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .consumer
        .unwrap()
        .last_update_id
    }

    /// Waits until the consumer's last update id reaches `n`.
    pub async fn wait_update(&self, n: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = self.last_update_id().await;
            if last >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the consumer is at update {last}, not {n}, after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the set change until the consumer has at least `n` updates (one per epoch).
    pub async fn updates_until(&mut self, n: u64) {
        loop {
            let last = self.last_update_id().await;
            if last >= n {
                return;
            }
            self.opt_in().await;
            self.wait_update(last + 1).await;
        }
    }
}

/// Subscribes to [`CONSUMER_ID`] from `from`.
pub async fn subscribe(
    client: &mut ConsumerClient<Channel>,
    from: u64,
) -> tonic::Streaming<cpb::ValidatorSetUpdate> {
    client
        .subscribe_validator_set(pb::SubscribeValidatorSetRequest {
            consumer_id: CONSUMER_ID.into(),
            from_update_id: from,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next message of a stream, within [`WAIT`].
pub async fn next(
    s: &mut tonic::Streaming<cpb::ValidatorSetUpdate>,
) -> Result<Option<cpb::ValidatorSetUpdate>, Status> {
    tokio::time::timeout(WAIT, s.message())
        .await
        .expect("the stream answers in time")
}

/// Reads updates until `last` arrives; each must be the one after the previous (`after` the
/// first time).
pub async fn read_through(
    s: &mut tonic::Streaming<cpb::ValidatorSetUpdate>,
    after: u64,
    last: u64,
) -> Vec<cpb::ValidatorSetUpdate> {
    let mut got = Vec::new();
    let mut prev = after;
    while prev < last {
        let u = next(s)
            .await
            .unwrap_or_else(|st| panic!("stream failed after update {prev}: {st:?}"))
            .unwrap_or_else(|| panic!("stream ended after update {prev}"));
        assert_eq!(u.update_id, prev + 1, "gap or duplicate after {prev}");
        assert_eq!(u.consumer_id, CONSUMER_ID);
        prev = u.update_id;
        got.push(u);
    }
    got
}

/// Checks that a streamed update is the one stored (over the consumers query service) and that
/// the set commitment of its height verifies with ICS-23 against that height's root.
pub async fn check_against_store(
    client: &mut ConsumerClient<Channel>,
    u: &cpb::ValidatorSetUpdate,
) {
    let r = client
        .get_validator_set(pb::GetValidatorSetRequest {
            consumer_id: CONSUMER_ID.into(),
            height: u.hub_height,
            prove: true,
        })
        .await
        .unwrap()
        .into_inner();
    let c = r.commitment.unwrap();
    assert_eq!(c.update_id, u.update_id);
    assert_eq!(c.set_hash, u.set_hash);
    assert_eq!(r.set.unwrap().set_hash, u.set_hash);
    let proof = ics23::CommitmentProof::decode(r.proof.as_slice()).unwrap();
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &jmt::ics23_spec(),
        &r.app_hash,
        &r.proof_key,
        &c.encode_to_vec()
    ));
}
