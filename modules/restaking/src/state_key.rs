//! Every key the restaking state machine writes. Keys are API: they change only through a
//! migration. Numbers are zero-padded to 20 digits so that lexical order is numeric order;
//! operator ids and addresses are lower-case hex of fixed length, so their order is byte order.

use crate::operator::OperatorId;
use ballast_framework::{Address, ConsensusAddress};

/// Prefix of every key of this module.
pub const PREFIX: &str = "restaking/";

/// The module's params.
pub fn params() -> &'static str {
    "restaking/params"
}

/// The last epoch whose end the module ran (absent before the first: the current epoch is 1).
pub fn last_ended_epoch() -> &'static str {
    "restaking/last_ended_epoch"
}

/// An operator record.
pub fn operator(id: &OperatorId) -> String {
    format!("restaking/operator/{id}")
}

/// Prefix of every operator record, in id order.
pub fn operators_prefix() -> &'static str {
    "restaking/operator/"
}

/// The operator that holds a consensus key (by its CometBFT address).
pub fn operator_by_consensus(addr: &ConsensusAddress) -> String {
    format!("restaking/operator_by_consensus/{}", hex::encode(addr.0))
}

/// Index of the operators an account owns.
pub fn operator_by_owner(owner: &Address, id: &OperatorId) -> String {
    format!("restaking/operator_by_owner/{}/{id}", owner.to_hex())
}

/// Prefix of the operators an account owns.
pub fn operator_by_owner_prefix(owner: &Address) -> String {
    format!("restaking/operator_by_owner/{}/", owner.to_hex())
}

/// An operator's live collateral and power.
pub fn power(id: &OperatorId) -> String {
    format!("restaking/power/{id}")
}

/// Prefix of the live power table, in id order.
pub fn power_prefix() -> &'static str {
    "restaking/power/"
}

/// Sum of the live power of every operator.
pub fn total_power() -> &'static str {
    "restaking/total_power"
}

/// One operator's entry in the power snapshot taken at the end of `epoch`.
pub fn snapshot(epoch: u64, id: &OperatorId) -> String {
    format!("restaking/snapshot/{epoch:020}/{id}")
}

/// Prefix of the power snapshot taken at the end of `epoch`.
pub fn snapshot_prefix(epoch: u64) -> String {
    format!("restaking/snapshot/{epoch:020}/")
}

/// Totals of the power snapshot of `epoch` (present once it is taken).
pub fn snapshot_info(epoch: u64) -> String {
    format!("restaking/snapshot_info/{epoch:020}")
}

/// A delegator's position with an operator.
pub fn position(delegator: &Address, id: &OperatorId) -> String {
    format!("restaking/position/{}/{id}", delegator.to_hex())
}

/// Prefix of a delegator's positions, in operator order.
pub fn positions_prefix(delegator: &Address) -> String {
    format!("restaking/position/{}/", delegator.to_hex())
}

/// Prefix of every position.
pub fn all_positions_prefix() -> &'static str {
    "restaking/position/"
}

/// The next native unbonding id.
pub fn next_unbonding_id() -> &'static str {
    "restaking/next_unbonding_id"
}

/// A native unbonding in the queue, ordered by completion epoch then id.
pub fn unbonding_queue(completion_epoch: u64, id: u64) -> String {
    format!("restaking/unbonding_queue/{completion_epoch:020}/{id:020}")
}

/// Prefix of the native unbonding queue.
pub fn unbonding_queue_prefix() -> &'static str {
    "restaking/unbonding_queue/"
}

/// Index of a delegator's native unbondings: the value is the completion epoch (8 bytes).
pub fn unbonding_by_delegator(delegator: &Address, id: u64) -> String {
    format!(
        "restaking/unbonding_by_delegator/{}/{id:020}",
        delegator.to_hex()
    )
}

/// Prefix of a delegator's native unbondings, in id order.
pub fn unbonding_by_delegator_prefix(delegator: &Address) -> String {
    format!("restaking/unbonding_by_delegator/{}/", delegator.to_hex())
}

/// An operator's reward accounting.
pub fn operator_rewards(id: &OperatorId) -> String {
    format!("restaking/operator_rewards/{id}")
}

/// Prefix of every operator's reward accounting.
pub fn operator_rewards_prefix() -> &'static str {
    "restaking/operator_rewards/"
}

/// ubal in the module account that a distribution could not hand out (rounding, operators
/// without weighted positions); added to the next distribution.
pub fn reward_remainder() -> &'static str {
    "restaking/reward_remainder"
}

/// The hub validator set in force.
pub fn hub_validators() -> &'static str {
    "restaking/hub_validators"
}

/// Validator updates for CometBFT, not yet taken by the app.
pub fn pending_validator_updates() -> &'static str {
    "restaking/pending_validator_updates"
}

/// The number in the last 20 characters of a key.
pub fn number_from_key(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(20)?..)?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

/// The operator id in the last 64 characters of a key.
pub fn operator_from_key(key: &[u8]) -> Option<OperatorId> {
    let tail = key.get(key.len().checked_sub(64)?..)?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(b: u8) -> OperatorId {
        OperatorId::new([b; 32])
    }

    #[test]
    fn keys_are_under_the_module_prefix_and_parse_back() {
        let a = Address([0xcd; 20]);
        let keys = [
            params().to_string(),
            last_ended_epoch().to_string(),
            operator(&op(1)),
            operator_by_consensus(&ConsensusAddress([2; 20])),
            operator_by_owner(&a, &op(1)),
            power(&op(1)),
            total_power().to_string(),
            snapshot(3, &op(1)),
            snapshot_info(3),
            position(&a, &op(1)),
            next_unbonding_id().to_string(),
            unbonding_queue(4, 5),
            unbonding_by_delegator(&a, 5),
            operator_rewards(&op(1)),
            reward_remainder().to_string(),
            hub_validators().to_string(),
            pending_validator_updates().to_string(),
        ];
        for k in &keys {
            assert!(k.starts_with(PREFIX), "{k}");
        }
        // No key is a prefix-listing of another kind.
        for (i, x) in keys.iter().enumerate() {
            for (j, y) in keys.iter().enumerate() {
                if i != j {
                    assert_ne!(x, y);
                }
            }
        }
        assert_eq!(
            operator(&op(0xab)),
            format!("restaking/operator/{}", "ab".repeat(32))
        );
        assert!(operator(&op(1)).starts_with(operators_prefix()));
        assert!(position(&a, &op(1)).starts_with(&positions_prefix(&a)));
        assert!(position(&a, &op(1)).starts_with(all_positions_prefix()));
        assert!(snapshot(3, &op(1)).starts_with(&snapshot_prefix(3)));
        assert!(!snapshot(30, &op(1)).starts_with(&snapshot_prefix(3)));
        assert!(unbonding_queue(4, 5).starts_with(unbonding_queue_prefix()));
        assert!(unbonding_by_delegator(&a, 5).starts_with(&unbonding_by_delegator_prefix(&a)));
        assert!(operator_by_owner(&a, &op(1)).starts_with(&operator_by_owner_prefix(&a)));
        assert!(!operators_prefix().starts_with(operator_by_owner_prefix(&a).as_str()));
        assert_eq!(
            unbonding_queue(4, 5),
            "restaking/unbonding_queue/00000000000000000004/00000000000000000005"
        );
        assert_eq!(
            number_from_key(unbonding_queue(4, u64::MAX).as_bytes()),
            Some(u64::MAX)
        );
        assert_eq!(
            operator_from_key(position(&a, &op(7)).as_bytes()),
            Some(op(7))
        );
        assert_eq!(number_from_key(b"short"), None);
        assert_eq!(operator_from_key(b"short"), None);
    }

    proptest! {
        #[test]
        fn lexical_order_of_numbered_keys_is_numeric_order(
            a in any::<u64>(), b in any::<u64>(), i in any::<u64>(), j in any::<u64>()
        ) {
            prop_assert_eq!(
                unbonding_queue(a, i).cmp(&unbonding_queue(b, j)),
                (a, i).cmp(&(b, j))
            );
            prop_assert_eq!(snapshot_info(a).cmp(&snapshot_info(b)), a.cmp(&b));
            let x = OperatorId::new([1; 32]);
            prop_assert_eq!(snapshot(a, &x).cmp(&snapshot(b, &x)), a.cmp(&b));
        }

        #[test]
        fn operator_keys_sort_like_their_bytes(x in any::<[u8; 32]>(), y in any::<[u8; 32]>()) {
            let (a, b) = (OperatorId::new(x), OperatorId::new(y));
            prop_assert_eq!(operator(&a).cmp(&operator(&b)), x.cmp(&y));
        }
    }
}
