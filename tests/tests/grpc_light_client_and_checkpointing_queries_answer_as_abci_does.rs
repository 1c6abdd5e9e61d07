//! `ballast.btclightclient.v1.Query` and `ballast.checkpointing.v1.Query` over gRPC, on a
//! one-validator mock chain that has sealed a checkpoint and holds mined regtest headers (a best
//! chain and a fork): every method of both services answers exactly the bytes of the ABCI query
//! of the same path, at the latest height and at an earlier one named by
//! `x-cosmos-block-height`; errors (unknown epoch, bad hash length, unknown header, ...) arrive
//! as gRPC statuses carrying the module's codespace and code; reflection lists and describes
//! both services, and health reports them SERVING.

use ballast_app::grpc::status::{CODESPACE_HEADER, CODE_HEADER};
use ballast_app::grpc::BLOCK_HEIGHT_HEADER;
use ballast_app::{App, AppConfig};
use ballast_checkpointing::genesis::GenesisBlsKey;
use ballast_checkpointing::BlsSecretKey;
use ballast_proto::ballast::btclightclient::v1 as bpb;
use ballast_proto::ballast::checkpointing::v1 as cpb;
use ballast_proto::cosmos::tx::v1beta1 as tx_pb;
use ballast_tests::btc_headers::{
    display_hash, msg_insert_headers, raw, regtest_chain, regtest_genesis, unknown_hash,
};
use ballast_tests::consensus::{consensus_address, MockConsensus};
use ballast_tests::driver::InProcess;
use ballast_tests::grpc::{GrpcChain, GrpcServer, QueueBroadcaster};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use prost::Message;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use tendermint_proto::v0_38::abci as pb;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const FUNDS: u128 = 1_000_000_000;
const EPOCH_LENGTH: u64 = 5;
const BTC: &str = "/ballast.btclightclient.v1.Query/";
const CKPT: &str = "/ballast.checkpointing.v1.Query/";

/// The validator: its ed25519 consensus key and its BLS key.
struct Validator {
    pubkey: [u8; 32],
    bls: BlsSecretKey,
}

impl Validator {
    fn new() -> Validator {
        let ed = ed25519_consensus::SigningKey::from([0x21; 32]);
        Validator {
            pubkey: ed.verification_key().to_bytes(),
            bls: BlsSecretKey::from_ikm(&[0x42; 32]).unwrap(),
        }
    }

    fn address(&self) -> [u8; 20] {
        consensus_address(&self.pubkey)
    }
}

/// A one-validator chain (the node signs checkpoints with its BLS key) and a gRPC server.
async fn start_chain(val: &Validator) -> GrpcChain {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = AppConfig::new(dir.path());
    cfg.bls_key = Some(Arc::new(val.bls.clone()));
    let app = App::open(cfg).unwrap();
    let accounts = TestAccount::many(1);
    let mut state = genesis_app_state(&accounts, FUNDS);
    state["app"]["epoch_length"] = EPOCH_LENGTH.into();
    state["checkpointing"] = serde_json::json!({
        "bls_keys": [GenesisBlsKey {
            validator_address: hex::encode(val.address()),
            bls_pubkey: hex::encode(val.bls.public_key().to_bytes()),
            pop: hex::encode(val.bls.proof_of_possession().to_bytes()),
        }]
    });
    let mut consensus = MockConsensus::with_validator_keys(CHAIN_ID, &[val.pubkey], state);
    let mut node = InProcess(app.clone());
    consensus.handshake(&mut node).unwrap();
    let broadcaster = Arc::new(QueueBroadcaster::new(app.clone()));
    let server = GrpcServer::start(app.clone(), broadcaster.clone()).await;
    GrpcChain {
        dir,
        app,
        node,
        consensus,
        accounts,
        broadcaster,
        server,
    }
}

/// Broadcasts a signed MsgInsertHeaders through gRPC and puts it in the next block.
async fn insert_headers(
    chain: &mut GrpcChain,
    headers: &[bitcoin::block::Header],
    sequence: u64,
) -> pb::ExecTxResult {
    let from = &chain.accounts[0];
    let mut spec = TxSpec::send(from, &from.address, 1, sequence);
    spec.msgs = vec![msg_insert_headers(&from.address, headers)];
    spec.gas_limit = 400_000;
    spec.fee = 10_000;
    let mut txc = tx_pb::service_client::ServiceClient::new(chain.server.channel().await);
    let r = txc
        .broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: spec.sign(from),
            mode: tx_pb::BroadcastMode::Sync as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap();
    assert_eq!(r.code, 0, "{}", r.raw_log);
    let block = chain.produce_block();
    assert_eq!(block.tx_results.len(), 1);
    block.tx_results[0].clone()
}

fn code_of(st: &Status) -> (String, u32) {
    let cs = st
        .metadata()
        .get(CODESPACE_HEADER)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let code = st
        .metadata()
        .get(CODE_HEADER)
        .map(|v| v.to_str().unwrap().parse().unwrap())
        .unwrap_or(0);
    (cs, code)
}

/// Asks the gRPC method `path` and the ABCI query `path` the same thing at `height` (0: the
/// latest), checks that they agree (bytes and height, or codespace, code and log), and
/// returns the gRPC answer.
struct Checker {
    ch: Channel,
    app: App,
    answered: BTreeSet<String>,
}

impl Checker {
    async fn ask<Req, Resp>(&mut self, path: &str, req: Req, height: i64) -> Result<Resp, Status>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Debug + Send + Sync + 'static,
    {
        let abci = self.app.query(pb::RequestQuery {
            data: req.encode_to_vec().into(),
            path: path.to_string(),
            height,
            prove: false,
        });
        let mut request = Request::new(req);
        if height > 0 {
            request
                .metadata_mut()
                .insert(BLOCK_HEIGHT_HEADER, height.to_string().parse().unwrap());
        }
        let mut grpc = tonic::client::Grpc::new(self.ch.clone());
        grpc.ready().await.unwrap();
        let answer = grpc
            .unary::<Req, Resp, _>(
                request,
                path.parse().unwrap(),
                tonic::codec::ProstCodec::default(),
            )
            .await;
        match answer {
            Ok(r) => {
                assert_eq!(
                    abci.code, 0,
                    "{path}: gRPC answered, ABCI failed: {}",
                    abci.log
                );
                let at: i64 = r
                    .metadata()
                    .get(BLOCK_HEIGHT_HEADER)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(at, abci.height, "{path}: answered heights differ");
                let resp = r.into_inner();
                assert_eq!(
                    resp.encode_to_vec(),
                    abci.value.to_vec(),
                    "{path}: gRPC {resp:?} is not the ABCI answer"
                );
                self.answered.insert(path.to_string());
                Ok(resp)
            }
            Err(st) => {
                assert_ne!(abci.code, 0, "{path}: ABCI answered, gRPC failed: {st:?}");
                assert_eq!(
                    code_of(&st),
                    (abci.codespace.clone(), abci.code),
                    "{path}: {st:?}"
                );
                assert!(
                    st.message().starts_with(&abci.log),
                    "{path}: status {:?} does not carry the log {:?}",
                    st.message(),
                    abci.log
                );
                Err(st)
            }
        }
    }

    /// Like [`Checker::ask`] for a request that must fail with (codespace, code).
    async fn fails<Req, Resp>(&mut self, path: &str, req: Req, codespace: &str, code: u32) -> Status
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Debug + Send + Sync + 'static,
    {
        let st = self
            .ask::<Req, Resp>(path, req, 0)
            .await
            .expect_err(&format!("{path} should fail with {codespace}/{code}"));
        assert_eq!(
            code_of(&st),
            (codespace.to_string(), code),
            "{path}: {st:?}"
        );
        st
    }
}

/// The full gRPC paths of every rpc of `package.Query` in the descriptor set.
fn query_methods(package: &str) -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(ballast_proto::FILE_DESCRIPTOR_SET).unwrap();
    let methods: BTreeSet<String> = set
        .file
        .iter()
        .filter(|f| f.package() == package)
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name() == "Query")
        .flat_map(|s| s.method.iter())
        .map(|m| format!("/{package}.Query/{}", m.name()))
        .collect();
    assert!(!methods.is_empty(), "{package}.Query has no methods");
    methods
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_light_client_and_checkpointing_method_answers_as_the_abci_query() {
    let val = Validator::new();
    let mut chain = start_chain(&val).await;

    // Epoch 1 is heights 1..=5; its checkpoint is sealed by the first block of epoch 2.
    for _ in 0..(EPOCH_LENGTH + 1) {
        chain.produce_block();
    }
    let before_headers = chain.consensus.next_height() - 1;

    // A best chain of three headers and a one-header fork off the genesis.
    let genesis = regtest_genesis();
    let best = regtest_chain(&genesis, 3, 1);
    let fork = regtest_chain(&genesis, 1, 2);
    let r = insert_headers(&mut chain, &best, 0).await;
    assert_eq!(r.code, 0, "{}", r.log);
    let r = insert_headers(&mut chain, &fork, 1).await;
    assert_eq!(r.code, 0, "{}", r.log);

    let mut c = Checker {
        ch: chain.server.channel().await,
        app: chain.app.clone(),
        answered: BTreeSet::new(),
    };
    let p = |m: &str| format!("{BTC}{m}");
    let q = |m: &str| format!("{CKPT}{m}");

    // --- btclightclient: answers.
    let params: bpb::QueryParamsResponse = c
        .ask(&p("Params"), bpb::QueryParamsRequest {}, 0)
        .await
        .unwrap();
    assert_eq!(params.params.unwrap().network, "regtest");
    let tip: bpb::QueryTipResponse = c.ask(&p("Tip"), bpb::QueryTipRequest {}, 0).await.unwrap();
    let tip = tip.header.unwrap();
    assert_eq!((tip.height, tip.hash.clone()), (3, display_hash(&best[2])));
    assert_eq!(tip.header, raw(&best[2]));
    // At a height before the headers arrived the tip was the genesis.
    let old_tip: bpb::QueryTipResponse = c
        .ask(&p("Tip"), bpb::QueryTipRequest {}, before_headers)
        .await
        .unwrap();
    assert_eq!(old_tip.header.unwrap().hash, display_hash(&genesis));
    let base: bpb::QueryBaseHeaderResponse = c
        .ask(&p("BaseHeader"), bpb::QueryBaseHeaderRequest {}, 0)
        .await
        .unwrap();
    assert_eq!(base.header.unwrap().height, 0);
    let fork_header: bpb::QueryHeaderByHashResponse = c
        .ask(
            &p("HeaderByHash"),
            bpb::QueryHeaderByHashRequest {
                hash: display_hash(&fork[0]),
            },
            0,
        )
        .await
        .unwrap();
    assert!(!fork_header.on_best_chain);
    assert_eq!(fork_header.header.unwrap().height, 1);
    let at2: bpb::QueryHeaderByHeightResponse = c
        .ask(
            &p("HeaderByHeight"),
            bpb::QueryHeaderByHeightRequest { height: 2 },
            0,
        )
        .await
        .unwrap();
    assert_eq!(at2.header.unwrap().hash, display_hash(&best[1]));
    let depth: bpb::QueryDepthResponse = c
        .ask(
            &p("Depth"),
            bpb::QueryDepthRequest {
                hash: display_hash(&best[0]),
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(depth.depth, 2);
    for (hash, known) in [
        (display_hash(&fork[0]), true),
        (unknown_hash().to_string(), false),
    ] {
        let r: bpb::QueryContainsHashResponse = c
            .ask(
                &p("ContainsHash"),
                bpb::QueryContainsHashRequest { hash },
                0,
            )
            .await
            .unwrap();
        assert_eq!(r.contains, known);
    }
    for (hash, on_best) in [
        (display_hash(&best[1]), true),
        (display_hash(&fork[0]), false),
    ] {
        let r: bpb::QueryIsOnBestChainResponse = c
            .ask(
                &p("IsOnBestChain"),
                bpb::QueryIsOnBestChainRequest { hash },
                0,
            )
            .await
            .unwrap();
        assert_eq!(r.on_best_chain, on_best);
    }
    let page: bpb::QueryMainChainResponse = c
        .ask(
            &p("MainChain"),
            bpb::QueryMainChainRequest {
                start_height: None,
                limit: 2,
                descending: true,
            },
            0,
        )
        .await
        .unwrap();
    let heights: Vec<u64> = page.headers.iter().map(|h| h.height).collect();
    assert_eq!((heights, page.next_height), (vec![3, 2], Some(1)));

    // --- btclightclient: errors.
    let st = c
        .fails::<_, bpb::QueryHeaderByHashResponse>(
            &p("HeaderByHash"),
            bpb::QueryHeaderByHashRequest {
                hash: "abcd".into(),
            },
            "btclightclient",
            21,
        )
        .await;
    assert_eq!(st.code(), Code::InvalidArgument);
    c.fails::<_, bpb::QueryHeaderByHashResponse>(
        &p("HeaderByHash"),
        bpb::QueryHeaderByHashRequest {
            hash: unknown_hash().to_string(),
        },
        "btclightclient",
        15,
    )
    .await;
    c.fails::<_, bpb::QueryDepthResponse>(
        &p("Depth"),
        bpb::QueryDepthRequest {
            hash: display_hash(&fork[0]),
        },
        "btclightclient",
        16,
    )
    .await;
    c.fails::<_, bpb::QueryHeaderByHeightResponse>(
        &p("HeaderByHeight"),
        bpb::QueryHeaderByHeightRequest { height: 99 },
        "btclightclient",
        23,
    )
    .await;
    c.fails::<_, bpb::QueryMainChainResponse>(
        &p("MainChain"),
        bpb::QueryMainChainRequest {
            start_height: None,
            limit: 5000,
            descending: false,
        },
        "btclightclient",
        22,
    )
    .await;

    // --- checkpointing: answers.
    let params: cpb::QueryParamsResponse = c
        .ask(&q("Params"), cpb::QueryParamsRequest {}, 0)
        .await
        .unwrap();
    assert_eq!(params.params.unwrap().checkpoint_tag, "bal0");
    let cp: cpb::QueryCheckpointResponse = c
        .ask(
            &q("Checkpoint"),
            cpb::QueryCheckpointRequest { epoch: 1 },
            0,
        )
        .await
        .unwrap();
    let cp = cp.checkpoint.unwrap();
    assert_eq!(cp.status, cpb::CheckpointStatus::Sealed as i32);
    let life: Vec<i32> = cp.lifecycle.iter().map(|l| l.status).collect();
    assert_eq!(
        life,
        vec![
            cpb::CheckpointStatus::Accumulating as i32,
            cpb::CheckpointStatus::Sealed as i32
        ]
    );
    let sealed: cpb::QueryCheckpointsResponse = c
        .ask(
            &q("Checkpoints"),
            cpb::QueryCheckpointsRequest {
                status: cpb::CheckpointStatus::Sealed as i32,
                start_epoch: 0,
                limit: 0,
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(sealed.checkpoints.first().map(|c| c.epoch), Some(1));
    let epoch: cpb::QueryEpochOfHeightResponse = c
        .ask(
            &q("EpochOfHeight"),
            cpb::QueryEpochOfHeightRequest { height: 15 },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        (epoch.epoch, epoch.first_height, epoch.last_height),
        (3, 11, 15)
    );
    let fin: cpb::QueryLatestFinalizedEpochResponse = c
        .ask(
            &q("LatestFinalizedEpoch"),
            cpb::QueryLatestFinalizedEpochRequest {},
            0,
        )
        .await
        .unwrap();
    assert_eq!(fin.epoch, None);
    let key: cpb::QueryBlsKeyResponse = c
        .ask(
            &q("BlsKey"),
            cpb::QueryBlsKeyRequest {
                validator_address: hex::encode_upper(val.address()),
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        key.bls_key.unwrap().bls_pubkey,
        val.bls.public_key().to_bytes().to_vec()
    );
    let snap: cpb::QueryValidatorSnapshotResponse = c
        .ask(
            &q("ValidatorSnapshot"),
            cpb::QueryValidatorSnapshotRequest { epoch: 2 },
            0,
        )
        .await
        .unwrap();
    let snap = snap.snapshot.unwrap();
    assert_eq!(snap.validators.len(), 1);
    assert_eq!(snap.validators[0].validator_address, val.address().to_vec());

    // --- checkpointing: errors.
    let st = c
        .fails::<_, cpb::QueryCheckpointResponse>(
            &q("Checkpoint"),
            cpb::QueryCheckpointRequest { epoch: 99 },
            "checkpointing",
            26,
        )
        .await;
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().contains("epoch 99"), "{}", st.message());
    c.fails::<_, cpb::QueryCheckpointsResponse>(
        &q("Checkpoints"),
        cpb::QueryCheckpointsRequest::default(),
        "checkpointing",
        41,
    )
    .await;
    c.fails::<_, cpb::QueryEpochOfHeightResponse>(
        &q("EpochOfHeight"),
        cpb::QueryEpochOfHeightRequest { height: 0 },
        "checkpointing",
        41,
    )
    .await;
    c.fails::<_, cpb::QueryBlsKeyResponse>(
        &q("BlsKey"),
        cpb::QueryBlsKeyRequest {
            validator_address: "abcd".into(),
        },
        "checkpointing",
        5,
    )
    .await;
    c.fails::<_, cpb::QueryBlsKeyResponse>(
        &q("BlsKey"),
        cpb::QueryBlsKeyRequest {
            validator_address: "00".repeat(20),
        },
        "checkpointing",
        41,
    )
    .await;
    c.fails::<_, cpb::QueryValidatorSnapshotResponse>(
        &q("ValidatorSnapshot"),
        cpb::QueryValidatorSnapshotRequest { epoch: 99 },
        "checkpointing",
        14,
    )
    .await;

    // Every rpc of both services answered at least once.
    let mut all = query_methods("ballast.btclightclient.v1");
    all.extend(query_methods("ballast.checkpointing.v1"));
    assert_eq!(c.answered, all);
    chain.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_and_health_list_both_module_services() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let chain = GrpcChain::start(1, FUNDS).await;
    let ch = chain.server.channel().await;
    let services = [
        "ballast.btclightclient.v1.Query",
        "ballast.checkpointing.v1.Query",
    ];

    let mut health = HealthClient::new(ch.clone());
    for s in services {
        let r = health
            .check(HealthCheckRequest { service: s.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{s}");
    }

    let ask = |req: MessageRequest| {
        let ch = ch.clone();
        async move {
            let mut client = ServerReflectionClient::new(ch);
            let stream = tonic::codegen::tokio_stream::iter(vec![ServerReflectionRequest {
                host: String::new(),
                message_request: Some(req),
            }]);
            let mut answers = client
                .server_reflection_info(stream)
                .await
                .unwrap()
                .into_inner();
            answers
                .message()
                .await
                .unwrap()
                .unwrap()
                .message_response
                .unwrap()
        }
    };
    let listed: BTreeSet<String> = match ask(MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(r) => r.service.into_iter().map(|s| s.name).collect(),
        other => panic!("expected a service list, got {other:?}"),
    };
    for s in services {
        assert!(listed.contains(s), "{s} is not listed: {listed:?}");
        let (package, _) = s.rsplit_once('.').unwrap();
        let files = match ask(MessageRequest::FileContainingSymbol(s.into())).await {
            MessageResponse::FileDescriptorResponse(r) => r
                .file_descriptor_proto
                .iter()
                .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
                .collect::<Vec<_>>(),
            other => panic!("expected file descriptors, got {other:?}"),
        };
        let methods: BTreeSet<String> = files
            .iter()
            .filter(|f| f.package() == package)
            .flat_map(|f| f.service.iter())
            .filter(|svc| svc.name() == "Query")
            .flat_map(|svc| svc.method.iter())
            .map(|m| format!("/{s}/{}", m.name()))
            .collect();
        assert_eq!(methods, query_methods(package), "{s}");
    }
}
