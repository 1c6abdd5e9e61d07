//! Test helpers: accounts, restaking operators with self-bonds, consumers, running a message
//! the way the tx pipeline does, and ending epochs in the app's hook order.

// Test-only code: a failing setup step should stop the test on the spot.
#![allow(clippy::unwrap_used)]

use crate::consumer::ConsumerId;
use crate::msg::{MsgFundLease, MsgOptIn, MsgRegisterConsumer, MsgRemoveConsumer};
use crate::opt_in::ConsumerKey;
use crate::{params, ConsumersModule, Params};
use ballast_accounts::{bank, Coin, Coins};
use ballast_framework::{
    Address, BlockContext, MemState, Module, MsgHandler, Overlay, TxContext, TxError,
};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::operator::{self, Description, OperatorRegistration};
use ballast_restaking::{native, OperatorId, PowerTableRead, RestakingModule};
use prost::Message;

/// An ed25519 consumer key from a seed byte.
pub fn consumer_key(i: u8) -> ConsumerKey {
    ConsumerKey::parse(
        &ed25519_consensus::SigningKey::from([i; 32])
            .verification_key()
            .to_bytes(),
    )
    .unwrap()
}

/// A consumer id.
pub fn cid(s: &str) -> ConsumerId {
    ConsumerId::parse(s).unwrap()
}

/// A plain account.
pub fn user(i: u8) -> Address {
    Address([0x10u8.wrapping_add(i); 20])
}

/// The owner account of operator `i`.
pub fn owner(i: u8) -> Address {
    Address([0xa0u8.wrapping_add(i); 20])
}

/// A BTC secret key from a seed byte (1 and up).
pub fn btc_sk(i: u8) -> secp256k1::SecretKey {
    secp256k1::SecretKey::from_slice(&[i; 32]).unwrap()
}

/// Accounts genesis, restaking defaults and the given consumers params.
pub fn init_with(s: &mut MemState, p: Params) {
    ballast_accounts::GenesisState::default().apply(s).unwrap();
    ballast_restaking::GenesisState::default()
        .apply(s, 1)
        .unwrap();
    params::store(s, &p).unwrap();
}

/// [`init_with`] default params.
pub fn init(s: &mut MemState) {
    init_with(s, Params::default());
}

/// Mints `amount` ubal into `to`.
pub fn fund(s: &mut MemState, to: &Address, amount: u128) {
    let coins = Coins::from_proto(&[Coin {
        denom: "ubal".into(),
        amount,
    }
    .to_proto()])
    .unwrap();
    bank::mint(s, to, &coins).unwrap();
}

/// Registers operator `i` (owner `owner(i)`, commission 10%) with a self-bond of `bal` BAL
/// (power `bal` with the default weights).
pub fn register_op(s: &mut MemState, i: u8, bal: u128) -> OperatorId {
    let reg = OperatorRegistration {
        owner: owner(i),
        id: OperatorId::from_secret_key(&btc_sk(i)),
        consensus_pubkey: None,
        commission: "0.1".parse().unwrap(),
        description: Description {
            moniker: format!("operator {i}"),
            ..Description::default()
        },
    };
    let op = operator::register(s, &reg, 1).unwrap();
    if bal > 0 {
        fund(s, &owner(i), bal * 1_000_000);
        native::bond(s, &owner(i), &op.id, bal * 1_000_000).unwrap();
    }
    op.id
}

/// Runs a message at height 7 as the pipeline does; its writes land only on success.
pub fn run<M: MsgHandler>(s: &mut MemState, m: &M) -> Result<(), TxError> {
    run_at(s, m, 7)
}

/// Runs a message at `height`.
pub fn run_at<M: MsgHandler>(s: &mut MemState, m: &M, height: u64) -> Result<(), TxError> {
    m.check_stateless()?;
    let block = BlockContext {
        chain_id: "ballast-test".into(),
        height,
        ..BlockContext::default()
    };
    let signers = m.signers();
    let ctx = TxContext {
        block: &block,
        tx_hash: [0; 32],
        signers: &signers,
    };
    let changes = {
        let mut o = Overlay::new(&*s);
        m.execute(&mut o, &ctx)?;
        o.into_changes()
    };
    changes.apply_to(s).unwrap();
    Ok(())
}

/// A registration message with `min_operators` 1, `max_operators` 10, fraction 0.05.
pub fn register_msg(
    owner: &Address,
    id: &str,
    fee: u128,
    mode: pb::AllocationMode,
) -> pb::MsgRegisterConsumer {
    pb::MsgRegisterConsumer {
        owner: owner.to_string(),
        consumer_id: id.into(),
        terms: Some(pb::ConsumerTerms {
            name: format!("consumer {id}"),
            fee_per_epoch: fee.to_string(),
            min_operators: 1,
            max_operators: 10,
            double_sign_slash_fraction: "0.05".into(),
            jail_epochs: 1,
        }),
        allocation_mode: mode as i32,
    }
}

/// Registers a consumer (see [`register_msg`]).
pub fn register(s: &mut MemState, owner: &Address, id: &str, fee: u128, mode: pb::AllocationMode) {
    let m = register_msg(owner, id, fee, mode);
    run(s, &MsgRegisterConsumer::decode(&m.encode_to_vec()).unwrap()).unwrap();
}

/// Mints `amount` to `funder` and funds the lease with it.
pub fn fund_lease(s: &mut MemState, funder: &Address, id: &str, amount: u128) {
    fund(s, funder, amount);
    let m = pb::MsgFundLease {
        funder: funder.to_string(),
        consumer_id: id.into(),
        amount: amount.to_string(),
    };
    run(s, &MsgFundLease::decode(&m.encode_to_vec()).unwrap()).unwrap();
}

/// Removes a consumer.
pub fn remove(s: &mut MemState, owner: &Address, id: &str) {
    let m = pb::MsgRemoveConsumer {
        owner: owner.to_string(),
        consumer_id: id.into(),
    };
    run(s, &MsgRemoveConsumer::decode(&m.encode_to_vec()).unwrap()).unwrap();
}

/// An opt-in message.
pub fn opt_in_msg(
    owner: &Address,
    op: &OperatorId,
    id: &str,
    key: &ConsumerKey,
    bps: u32,
) -> pb::MsgOptIn {
    pb::MsgOptIn {
        owner: owner.to_string(),
        operator_btc_pk: op.to_bytes().to_vec(),
        consumer_id: id.into(),
        consumer_pubkey: key.to_bytes().to_vec(),
        allocation_bps: bps,
    }
}

/// Operator `op` (owned by `owner(i)`) opts in to `id` with key seed `key` and `bps`.
pub fn opt_in_op(
    s: &mut MemState,
    i: u8,
    op: &OperatorId,
    id: &str,
    key: u8,
    bps: u32,
) -> Result<(), TxError> {
    let m = opt_in_msg(&owner(i), op, id, &consumer_key(key), bps);
    run(s, &MsgOptIn::decode(&m.encode_to_vec()).unwrap())
}

fn block(height: u64) -> BlockContext {
    BlockContext {
        chain_id: "ballast-test".into(),
        height,
        ..BlockContext::default()
    }
}

/// The end of a block that ends no epoch, in the app's module order.
pub fn end_block(s: &mut MemState, height: u64) {
    let ctx = block(height);
    RestakingModule.end_block(s, &ctx).unwrap();
    ConsumersModule.end_block(s, &ctx).unwrap();
}

/// Ends the current epoch in restaking only (snapshot, rewards, hub set); returns it.
pub fn end_restaking_epoch(s: &mut MemState, height: u64) -> u64 {
    let epoch = s.current_epoch().unwrap();
    RestakingModule.end_epoch(s, &block(height), epoch).unwrap();
    epoch
}

/// The last block of the current epoch, in the app's order: end-blocks, then end-epochs.
/// Returns the epoch that ended.
pub fn end_epoch(s: &mut MemState, height: u64) -> u64 {
    end_block(s, height);
    let epoch = end_restaking_epoch(s, height);
    ConsumersModule.end_epoch(s, &block(height), epoch).unwrap();
    epoch
}
