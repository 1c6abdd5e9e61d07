//! Shared by the `consumers_*` tests: a one-node chain driven by the mock CometBFT, with
//! genesis restaking operators (self-bonded owners who are also test accounts), signed txs of
//! the consumers and restaking messages, and ABCI queries of committed state.

#![allow(dead_code)]

use ballast_app::{App, AppConfig};
use ballast_proto::ballast::consumers::v1 as cpb;
use ballast_proto::ballast::restaking::v1 as rpb;
use ballast_tests::consensus::{DecidedBlock, MockConsensus};
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::CHAIN_ID;
use cosmrs::Any;
use prost::Message;
use secp256k1::{Keypair, SecretKey, SECP256K1};
use sha2::{Digest, Sha256};
use tendermint_proto::v0_38::abci as pb;

/// Blocks per epoch: epoch `e` ends at height `5e`.
pub const EPOCH_LENGTH: u64 = 5;
/// ubal of every genesis account.
pub const FUNDS: u128 = 1_000_000_000_000;
/// Fee of every tx (a multiple of every total power the tests use, so that restaking's fee
/// distribution leaves no rounding remainder behind).
pub const FEE: u128 = 100_000;

/// The BTC secret key of operator `i` (0-based).
pub fn btc_sk(i: usize) -> SecretKey {
    SecretKey::from_slice(&[i as u8 + 1; 32]).unwrap()
}

/// Operator `i`'s id: its x-only BTC key.
pub fn operator_id(i: usize) -> [u8; 32] {
    btc_sk(i).x_only_public_key(SECP256K1).0.serialize()
}

/// An ed25519 consumer key from a seed.
pub fn consumer_key(seed: u8) -> [u8; 32] {
    ed25519_consensus::SigningKey::from([seed; 32])
        .verification_key()
        .to_bytes()
}

fn pop(sk: &SecretKey, owner: &ballast_framework::Address) -> [u8; 64] {
    let digest: [u8; 32] = Sha256::digest(owner.0).into();
    SECP256K1
        .sign_schnorr_no_aux_rand(
            &secp256k1::Message::from_digest(digest),
            &Keypair::from_secret_key(SECP256K1, sk),
        )
        .serialize()
}

/// One node, its mock consensus, and the test accounts: accounts `0..operators` own operator
/// `i` (commission 5%, a self-bond of `bonds[i]` BAL), the others are plain accounts.
pub struct Chain {
    /// The mock CometBFT.
    pub mock: MockConsensus,
    /// The node.
    pub node: InProcess,
    /// Every genesis account.
    pub accounts: Vec<TestAccount>,
    seq: Vec<u64>,
    mempool: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
}

impl Chain {
    /// A chain with operators self-bonded with `bonds` BAL, `extra` plain accounts, and the
    /// consumers params `consumers_params` (JSON; defaults for missing fields).
    pub fn new(bonds: &[u128], extra: usize, consumers_params: serde_json::Value) -> Chain {
        let accounts = TestAccount::many(bonds.len() + extra);
        let list: Vec<serde_json::Value> = accounts
            .iter()
            .map(|a| {
                serde_json::json!({"address": a.address.to_string(),
                    "coins": [{"denom": "ubal", "amount": FUNDS.to_string()}]})
            })
            .collect();
        let operators: Vec<serde_json::Value> = bonds
            .iter()
            .enumerate()
            .map(|(i, bal)| {
                let owner = accounts[i].address;
                serde_json::json!({
                    "owner": owner.to_string(),
                    "btc_pk": hex::encode(operator_id(i)),
                    "btc_pop": hex::encode(pop(&btc_sk(i), &owner)),
                    "consensus_pubkey": "",
                    "commission": "0.05",
                    "description": {"moniker": format!("operator-{i}")},
                    "self_bond": (bal * 1_000_000).to_string(),
                })
            })
            .collect();
        let app_state = serde_json::json!({
            "app": {"epoch_length": EPOCH_LENGTH},
            "accounts": {"accounts": list},
            "restaking": {"operators": operators},
            "consumers": {"params": consumers_params},
        });
        let dir = tempfile::tempdir().unwrap();
        let mut node = InProcess(App::open(AppConfig::new(dir.path())).unwrap());
        let mut mock = MockConsensus::new(CHAIN_ID, 1, app_state);
        mock.handshake(&mut node).unwrap();
        let n = accounts.len();
        Chain {
            mock,
            node,
            accounts,
            seq: vec![0; n],
            mempool: Vec::new(),
            _dir: dir,
        }
    }

    /// The height of the last decided block.
    pub fn height(&self) -> u64 {
        self.mock.blocks.len() as u64
    }

    /// The epoch in progress at the next block.
    pub fn current_epoch(&self) -> u64 {
        self.height() / EPOCH_LENGTH + 1
    }

    /// Signs `msgs` by account `signer` and puts the tx in the mempool (after CheckTx).
    pub fn submit(&mut self, signer: usize, msgs: Vec<Any>) {
        let a = &self.accounts[signer];
        let spec = TxSpec {
            msgs,
            memo: String::new(),
            timeout_height: 0,
            fee: FEE,
            gas_limit: 4_000_000,
            sequence: self.seq[signer],
            account_number: a.account_number,
            chain_id: CHAIN_ID.into(),
            include_pubkey: true,
        };
        let tx = spec.sign(a);
        let checked = MockConsensus::check_txs(&mut self.node, std::slice::from_ref(&tx)).unwrap();
        assert_eq!(checked[0].code, 0, "CheckTx refused: {}", checked[0].log);
        self.seq[signer] += 1;
        self.mempool.push(tx);
    }

    /// Decides one block with the mempool's txs.
    pub fn block(&mut self) -> DecidedBlock {
        let txs = std::mem::take(&mut self.mempool);
        let mut nodes: Vec<&mut dyn Abci> = vec![&mut self.node];
        let (block, left) = self.mock.produce_block(&mut nodes, txs).unwrap();
        assert!(left.is_empty(), "every submitted tx made it into the block");
        block
    }

    /// Sends one tx in its own block and returns its result.
    pub fn send(&mut self, signer: usize, msgs: Vec<Any>) -> pb::ExecTxResult {
        self.submit(signer, msgs);
        let b = self.block();
        b.tx_results.last().cloned().unwrap()
    }

    /// Sends one tx that must succeed.
    pub fn send_ok(&mut self, signer: usize, msgs: Vec<Any>) -> pb::ExecTxResult {
        let r = self.send(signer, msgs);
        assert_eq!(r.code, 0, "{}/{}: {}", r.codespace, r.code, r.log);
        r
    }

    /// Produces empty blocks until `height` is decided; returns the blocks.
    pub fn advance_to(&mut self, height: u64) -> Vec<DecidedBlock> {
        let mut out = Vec::new();
        while self.height() < height {
            out.push(self.block());
        }
        out
    }

    /// Produces empty blocks through the end of the current epoch; returns the last one.
    pub fn finish_epoch(&mut self) -> DecidedBlock {
        let end = self.current_epoch() * EPOCH_LENGTH;
        self.advance_to(end).pop().unwrap()
    }

    /// An ABCI query of the last committed state: the response, or (codespace, code, log).
    pub fn query<Req: Message, Resp: Message + Default>(
        &mut self,
        path: &str,
        req: &Req,
    ) -> Result<Resp, (String, u32, String)> {
        let r = self
            .node
            .query(pb::RequestQuery {
                data: req.encode_to_vec().into(),
                path: path.into(),
                height: 0,
                prove: false,
            })
            .unwrap();
        if r.code != 0 {
            return Err((r.codespace, r.code, r.log));
        }
        Ok(Resp::decode(r.value.as_ref()).unwrap())
    }

    /// The raw committed value under a store key of the consumers module
    /// (`/store/consumers/key`).
    pub fn store_value(&mut self, key: &str) -> Option<Vec<u8>> {
        let r = self
            .node
            .query(pb::RequestQuery {
                data: key.as_bytes().to_vec().into(),
                path: "/store/consumers/key".into(),
                height: 0,
                prove: false,
            })
            .unwrap();
        assert_eq!(r.code, 0, "{}", r.log);
        (!r.value.is_empty()).then(|| r.value.to_vec())
    }

    /// A consumer as the Consumer query answers it.
    pub fn consumer(&mut self, id: &str) -> cpb::Consumer {
        let r: cpb::QueryConsumerResponse = self
            .query(
                "/ballast.consumers.v1.Query/Consumer",
                &cpb::QueryConsumerRequest {
                    consumer_id: id.into(),
                },
            )
            .unwrap();
        r.consumer.unwrap()
    }

    /// A consumer's current set (`None` before its first update).
    pub fn validator_set(&mut self, id: &str) -> Option<cpb::ConsumerValidatorSet> {
        let r: cpb::QueryValidatorSetResponse = self
            .query(
                "/ballast.consumers.v1.Query/ValidatorSet",
                &cpb::QueryValidatorSetRequest {
                    consumer_id: id.into(),
                },
            )
            .unwrap();
        r.set
    }

    /// Every stored update of a consumer.
    pub fn updates(&mut self, id: &str) -> Vec<cpb::ValidatorSetUpdate> {
        let r: cpb::QueryUpdatesResponse = self
            .query(
                "/ballast.consumers.v1.Query/Updates",
                &cpb::QueryUpdatesRequest {
                    consumer_id: id.into(),
                    after_update_id: 0,
                    limit: 1000,
                },
            )
            .unwrap();
        r.updates
    }

    /// A delegator's withdrawable rewards (restaking's Rewards query): (total, commission).
    pub fn rewards(&mut self, who: usize) -> (u128, u128) {
        let r: rpb::QueryRewardsResponse = self
            .query(
                "/ballast.restaking.v1.Query/Rewards",
                &rpb::QueryRewardsRequest {
                    delegator: self.accounts[who].address.to_string(),
                },
            )
            .unwrap();
        (r.total.parse().unwrap(), r.commission.parse().unwrap())
    }

    /// An account's ubal.
    pub fn balance(&mut self, who: &ballast_framework::Address) -> u128 {
        use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
        let r: QueryBalanceResponse = self
            .query(
                "/cosmos.bank.v1beta1.Query/Balance",
                &QueryBalanceRequest {
                    address: who.to_string(),
                    denom: "ubal".into(),
                },
            )
            .unwrap();
        r.balance.unwrap().amount.parse().unwrap()
    }

    /// The account of `i`.
    pub fn addr(&self, i: usize) -> ballast_framework::Address {
        self.accounts[i].address
    }

    /// `MsgRegisterConsumer` by account `owner`.
    pub fn register_msg(
        &self,
        owner: usize,
        id: &str,
        fee: u128,
        min_operators: u32,
        max_operators: u32,
        mode: cpb::AllocationMode,
    ) -> Any {
        any(
            "/ballast.consumers.v1.MsgRegisterConsumer",
            &cpb::MsgRegisterConsumer {
                owner: self.addr(owner).to_string(),
                consumer_id: id.into(),
                terms: Some(cpb::ConsumerTerms {
                    name: format!("consumer {id}"),
                    fee_per_epoch: fee.to_string(),
                    min_operators,
                    max_operators,
                    double_sign_slash_fraction: "0.05".into(),
                    jail_epochs: 2,
                }),
                allocation_mode: mode as i32,
            },
        )
    }

    /// `MsgFundLease` by account `funder`.
    pub fn fund_msg(&self, funder: usize, id: &str, amount: u128) -> Any {
        any(
            "/ballast.consumers.v1.MsgFundLease",
            &cpb::MsgFundLease {
                funder: self.addr(funder).to_string(),
                consumer_id: id.into(),
                amount: amount.to_string(),
            },
        )
    }

    /// `MsgOptIn` of operator `op` (signed by its owner, account `op`).
    pub fn opt_in_msg(&self, op: usize, id: &str, key_seed: u8, bps: u32) -> Any {
        any(
            "/ballast.consumers.v1.MsgOptIn",
            &cpb::MsgOptIn {
                owner: self.addr(op).to_string(),
                operator_btc_pk: operator_id(op).to_vec(),
                consumer_id: id.into(),
                consumer_pubkey: consumer_key(key_seed).to_vec(),
                allocation_bps: bps,
            },
        )
    }

    /// `MsgOptOut` of operator `op`.
    pub fn opt_out_msg(&self, op: usize, id: &str) -> Any {
        any(
            "/ballast.consumers.v1.MsgOptOut",
            &cpb::MsgOptOut {
                owner: self.addr(op).to_string(),
                operator_btc_pk: operator_id(op).to_vec(),
                consumer_id: id.into(),
            },
        )
    }

    /// `MsgBondNative` of `bal` BAL by account `who` with operator `op`.
    pub fn bond_msg(&self, who: usize, op: usize, bal: u128) -> Any {
        any(
            "/ballast.restaking.v1.MsgBondNative",
            &rpb::MsgBondNative {
                delegator: self.addr(who).to_string(),
                operator_btc_pk: operator_id(op).to_vec(),
                amount: (bal * 1_000_000).to_string(),
            },
        )
    }
}

/// An `Any` of a message.
pub fn any<M: Message>(type_url: &str, m: &M) -> Any {
    Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

/// `(pubkey, power)` of each validator of a set, in its stored order.
pub fn powers(set: &cpb::ConsumerValidatorSet) -> Vec<([u8; 32], u64)> {
    set.validators
        .iter()
        .map(|v| (v.pubkey.as_slice().try_into().unwrap(), v.power))
        .collect()
}

/// `(pubkey, power)` of each change of an update.
pub fn changes(u: &cpb::ValidatorSetUpdate) -> Vec<([u8; 32], u64)> {
    u.changes
        .iter()
        .map(|v| (v.pubkey.as_slice().try_into().unwrap(), v.power))
        .collect()
}

/// The events of a block (its own and its txs'), of one kind.
pub fn events_of<'a>(b: &'a DecidedBlock, kind: &str) -> Vec<&'a pb::Event> {
    b.events
        .iter()
        .chain(b.tx_results.iter().flat_map(|r| r.events.iter()))
        .filter(|e| e.r#type == kind)
        .collect()
}

/// The value of an event attribute.
pub fn attr<'a>(e: &'a pb::Event, key: &str) -> Option<&'a str> {
    e.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| a.value.as_str())
}

/// The CometBFT validator-set hash of `(pubkey, power)` pairs, by the tendermint crate.
pub fn tendermint_set_hash(vals: &[([u8; 32], u64)]) -> Vec<u8> {
    let list: Vec<tendermint::validator::Info> = vals
        .iter()
        .map(|(pk, p)| {
            tendermint::validator::Info::new(
                tendermint::PublicKey::from_raw_ed25519(pk).unwrap(),
                tendermint::vote::Power::try_from(*p).unwrap(),
            )
        })
        .collect();
    tendermint::validator::Set::without_proposer(list)
        .hash()
        .as_bytes()
        .to_vec()
}
