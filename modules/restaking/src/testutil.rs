//! Test helpers: keys, funded accounts, registered operators, and running a message the way
//! the tx pipeline does (stateless check, then execute on an overlay applied on success).

// Test-only code: a failing setup step should stop the test on the spot.
#![allow(clippy::unwrap_used)]

use crate::operator::{self, Description, OperatorId, OperatorRegistration};
use crate::{params, Params};
use ballast_accounts::{bank, Coin, Coins};
use ballast_framework::{Address, BlockContext, MemState, MsgHandler, Overlay, TxContext, TxError};

/// A BTC secret key from a seed byte (1 and up).
pub fn btc_sk(i: u8) -> secp256k1::SecretKey {
    secp256k1::SecretKey::from_slice(&[i; 32]).expect("a small constant is a valid secret key")
}

/// An ed25519 consensus public key from a seed byte.
pub fn cons_pk(i: u8) -> [u8; 32] {
    ed25519_consensus::SigningKey::from([i; 32])
        .verification_key()
        .to_bytes()
}

/// The owner account of operator `i`.
pub fn owner(i: u8) -> Address {
    Address([0xa0u8.wrapping_add(i); 20])
}

/// Accounts genesis (fee collector) and the given restaking params.
pub fn init_with(s: &mut MemState, p: Params) {
    ballast_accounts::GenesisState::default().apply(s).unwrap();
    params::store(s, &p).unwrap();
}

/// [`init_with`] default params.
pub fn init(s: &mut MemState) {
    init_with(s, Params::default());
}

/// Mints `amount` ubal into `to`.
pub fn fund(s: &mut MemState, to: &Address, amount: u128) {
    let coins = Coins::from_proto(&[Coin {
        denom: crate::BOND_DENOM.into(),
        amount,
    }
    .to_proto()])
    .unwrap();
    bank::mint(s, to, &coins).unwrap();
}

/// Operator `i`'s registration (owner `owner(i)`), with the given commission.
pub fn registration_with(
    i: u8,
    consensus: Option<[u8; 32]>,
    commission: &str,
) -> OperatorRegistration {
    OperatorRegistration {
        owner: owner(i),
        id: OperatorId::from_secret_key(&btc_sk(i)),
        consensus_pubkey: consensus,
        commission: commission.parse().unwrap(),
        description: Description {
            moniker: format!("operator {i}"),
            ..Description::default()
        },
    }
}

/// Operator `i`'s registration with commission 0.05.
pub fn registration(i: u8, consensus: Option<[u8; 32]>) -> OperatorRegistration {
    registration_with(i, consensus, "0.05")
}

/// Registers operator `i` with the given commission.
pub fn register_op_with(
    s: &mut MemState,
    i: u8,
    consensus: Option<[u8; 32]>,
    commission: &str,
) -> OperatorId {
    operator::register(s, &registration_with(i, consensus, commission), 1)
        .unwrap()
        .id
}

/// Registers operator `i` with commission 0.05.
pub fn register_op(s: &mut MemState, i: u8, consensus: Option<[u8; 32]>) -> OperatorId {
    register_op_with(s, i, consensus, "0.05")
}

/// Runs a message at height 7 as the pipeline does; its writes land only on success.
pub fn run<M: MsgHandler>(s: &mut MemState, m: &M) -> Result<(), TxError> {
    m.check_stateless()?;
    let block = BlockContext {
        chain_id: "ballast-test".into(),
        height: 7,
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
