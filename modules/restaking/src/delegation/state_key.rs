//! Every key the BTC delegation state machine writes. Keys are API: they change only through a
//! migration.
//!
//! - A delegation is stored once, under its staking txid (64 lower-case hex digits in display
//!   order, as bitcoind prints txids), as a `ballast.restaking.v1.BtcDelegation`.
//! - Four indexes name it again with an empty value: by staker BTC key, by staker address, by
//!   operator and by status. Each index key ends in the txid, so every index lists in txid
//!   order and pages with `start_after = txid`.
//! - The time queue holds at most one entry per delegation, keyed by the Bitcoin height at
//!   which it moves by time (zero-padded to 20 digits, so lexical order is height order), then
//!   the txid. Its value is the [`QueueKind`] byte: EXPIRED for a delegation whose timelock is
//!   known, UNBONDED for an unbonding one.

use crate::delegation::types::{DelegationStatus, StakingTxid};
use crate::operator::OperatorId;
use ballast_framework::Address;
use bitcoin::secp256k1::XOnlyPublicKey;

/// A delegation record.
pub fn delegation(txid: &StakingTxid) -> String {
    format!("restaking/btc_delegation/{txid}")
}

/// Prefix of every delegation record, in txid order.
pub fn delegations_prefix() -> &'static str {
    "restaking/btc_delegation/"
}

/// Index by staker BTC key.
pub fn by_staker_pk(pk: &XOnlyPublicKey, txid: &StakingTxid) -> String {
    format!("{}{txid}", by_staker_pk_prefix(pk))
}

/// Prefix of a staker key's delegations.
pub fn by_staker_pk_prefix(pk: &XOnlyPublicKey) -> String {
    format!(
        "restaking/btc_delegation_by_staker_pk/{}/",
        hex::encode(pk.serialize())
    )
}

/// Index by staker (reward) address.
pub fn by_staker(addr: &Address, txid: &StakingTxid) -> String {
    format!("{}{txid}", by_staker_prefix(addr))
}

/// Prefix of an address's delegations.
pub fn by_staker_prefix(addr: &Address) -> String {
    format!("restaking/btc_delegation_by_staker/{}/", addr.to_hex())
}

/// Index by operator.
pub fn by_operator(op: &OperatorId, txid: &StakingTxid) -> String {
    format!("{}{txid}", by_operator_prefix(op))
}

/// Prefix of an operator's delegations.
pub fn by_operator_prefix(op: &OperatorId) -> String {
    format!("restaking/btc_delegation_by_operator/{op}/")
}

/// Index by status.
pub fn by_status(status: DelegationStatus, txid: &StakingTxid) -> String {
    format!("{}{txid}", by_status_prefix(status))
}

/// Prefix of the delegations in one status.
pub fn by_status_prefix(status: DelegationStatus) -> String {
    format!(
        "restaking/btc_delegation_by_status/{:02}/",
        status.to_proto() as i32
    )
}

/// An entry of the time queue: `txid` moves by time once the light client's tip reaches
/// `btc_height`.
pub fn queue(btc_height: u64, txid: &StakingTxid) -> String {
    format!("restaking/btc_delegation_queue/{btc_height:020}/{txid}")
}

/// Prefix of the time queue, in height then txid order.
pub fn queue_prefix() -> &'static str {
    "restaking/btc_delegation_queue/"
}

/// The Bitcoin height and txid of a queue key.
pub fn parse_queue_key(key: &[u8]) -> Option<(u64, StakingTxid)> {
    let rest = key.strip_prefix(queue_prefix().as_bytes())?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (height, txid) = rest.split_once('/')?;
    if height.len() != 20 {
        return None;
    }
    Some((height.parse().ok()?, txid.parse().ok()?))
}

/// The txid at the end of an index or record key.
pub fn txid_from_key(key: &[u8]) -> Option<StakingTxid> {
    let tail = key.get(key.len().checked_sub(64)?..)?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

/// What a queue entry does when its height is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// The timelock has less than the unbonding time left: EXPIRED.
    Expire = 1,
    /// The unbonding time has passed: UNBONDED.
    Unbonded = 2,
}

impl QueueKind {
    /// The stored value.
    pub fn to_value(self) -> Vec<u8> {
        vec![self as u8]
    }

    /// From a stored value.
    pub fn from_value(v: &[u8]) -> Option<Self> {
        match v {
            [1] => Some(QueueKind::Expire),
            [2] => Some(QueueKind::Unbonded),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_key::PREFIX;
    use bitcoin::hashes::Hash;
    use proptest::prelude::*;

    fn txid(b: u8) -> StakingTxid {
        StakingTxid(bitcoin::Txid::from_byte_array([b; 32]))
    }

    fn pk() -> XOnlyPublicKey {
        let sk = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).expect("valid scalar");
        sk.x_only_public_key(bitcoin::secp256k1::SECP256K1).0
    }

    #[test]
    fn keys_are_under_the_module_prefix_distinct_and_parse_back() {
        let a = Address([0xcd; 20]);
        let op = OperatorId::new([7; 32]);
        let t = txid(9);
        let keys = [
            delegation(&t),
            by_staker_pk(&pk(), &t),
            by_staker(&a, &t),
            by_operator(&op, &t),
            by_status(DelegationStatus::Active, &t),
            queue(5, &t),
        ];
        for k in &keys {
            assert!(k.starts_with(PREFIX), "{k}");
            assert_eq!(txid_from_key(k.as_bytes()), Some(t), "{k}");
        }
        for (i, x) in keys.iter().enumerate() {
            for (j, y) in keys.iter().enumerate() {
                if i != j {
                    assert!(!x.starts_with(y.as_str()));
                }
            }
        }
        // The record prefix does not list the index keys.
        for k in &keys[1..] {
            assert!(!k.starts_with(delegations_prefix()), "{k}");
        }
        assert!(delegation(&t).starts_with(delegations_prefix()));
        assert!(by_staker_pk(&pk(), &t).starts_with(&by_staker_pk_prefix(&pk())));
        assert!(by_staker(&a, &t).starts_with(&by_staker_prefix(&a)));
        assert!(by_operator(&op, &t).starts_with(&by_operator_prefix(&op)));
        assert!(by_status(DelegationStatus::Active, &t)
            .starts_with(&by_status_prefix(DelegationStatus::Active)));
        assert!(!by_status(DelegationStatus::Active, &t)
            .starts_with(&by_status_prefix(DelegationStatus::Pending)));
        assert_eq!(parse_queue_key(queue(5, &t).as_bytes()), Some((5, t)));
        assert_eq!(parse_queue_key(b"restaking/btc_delegation_queue/5/x"), None);
        assert_eq!(
            delegation(&t),
            format!(
                "restaking/btc_delegation/{}",
                bitcoin::Txid::from_byte_array([9; 32])
            )
        );
        assert_eq!(
            QueueKind::from_value(&QueueKind::Expire.to_value()),
            Some(QueueKind::Expire)
        );
        assert_eq!(
            QueueKind::from_value(&QueueKind::Unbonded.to_value()),
            Some(QueueKind::Unbonded)
        );
        assert_eq!(QueueKind::from_value(&[3]), None);
    }

    proptest! {
        #[test]
        fn queue_keys_sort_by_height_then_txid(
            a in any::<u64>(), b in any::<u64>(), x in any::<[u8; 32]>(), y in any::<[u8; 32]>()
        ) {
            let (tx, ty) = (
                StakingTxid(bitcoin::Txid::from_byte_array(x)),
                StakingTxid(bitcoin::Txid::from_byte_array(y)),
            );
            prop_assert_eq!(
                queue(a, &tx).cmp(&queue(b, &ty)),
                (a, tx.to_string()).cmp(&(b, ty.to_string()))
            );
            prop_assert_eq!(parse_queue_key(queue(a, &tx).as_bytes()), Some((a, tx)));
        }
    }
}
