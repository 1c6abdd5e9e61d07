//! `/ballast.restaking.v1.MsgWithdrawRewards`: pays a delegator's settled rewards with one
//! operator or all, plus the commission of the operators it owns.

use super::{decode_proto, message_event, parse_address};
use crate::operator::OperatorId;
use crate::rewards;
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;

/// A decoded withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgWithdrawRewards {
    /// The delegator (signer).
    pub delegator: Address,
    /// One operator, or `None` for all.
    pub operator: Option<OperatorId>,
}

impl MsgHandler for MsgWithdrawRewards {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgWithdrawRewards";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m: pb::MsgWithdrawRewards = decode_proto(value)?;
        Ok(MsgWithdrawRewards {
            delegator: parse_address("delegator", &m.delegator)?,
            operator: if m.operator_btc_pk.is_empty() {
                None
            } else {
                Some(OperatorId::from_slice(
                    &m.operator_btc_pk,
                    "operator_btc_pk",
                )?)
            },
        })
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.delegator]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        rewards::withdraw(state, &self.delegator, self.operator.as_ref())?;
        state.emit_event(message_event(Self::TYPE_URL, &self.delegator));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::snapshot_power;
    use crate::testutil::*;
    use crate::BOND_DENOM;
    use ballast_accounts::{fee_collector, AccountsRead};
    use ballast_framework::MemState;
    use prost::Message;

    fn bytes(d: &Address, op: Option<&OperatorId>) -> Vec<u8> {
        pb::MsgWithdrawRewards {
            delegator: d.to_string(),
            operator_btc_pk: op.map(|o| o.to_bytes().to_vec()).unwrap_or_default(),
        }
        .encode_to_vec()
    }

    #[test]
    fn withdraws_rewards_and_commission() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op_with(&mut s, 1, Some(cons_pk(1)), "0.2");
        fund(&mut s, &owner(1), 10_000_000);
        crate::native::bond(&mut s, &owner(1), &op, 10_000_000).unwrap();
        fund(&mut s, &fee_collector(), 1_000);
        let snap = snapshot_power(&mut s, 1).unwrap();
        rewards::distribute(&mut s, &snap).unwrap();
        let m = MsgWithdrawRewards::decode(&bytes(&owner(1), Some(&op))).unwrap();
        run(&mut s, &m).unwrap();
        assert_eq!(s.balance(&owner(1), BOND_DENOM).unwrap(), 1_000);
        let e = run(&mut s, &m).unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 20));
        let e = MsgWithdrawRewards::decode(&bytes(&owner(1), Some(&OperatorId::new([1; 32]))))
            .map(|m| run(&mut s, &m))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, 12);
        let mut bad = pb::MsgWithdrawRewards::decode(bytes(&owner(1), None).as_slice()).unwrap();
        bad.operator_btc_pk = vec![1; 5];
        assert_eq!(
            MsgWithdrawRewards::decode(&bad.encode_to_vec())
                .unwrap_err()
                .code,
            4
        );
        bad.operator_btc_pk.clear();
        bad.delegator = "x".into();
        assert_eq!(
            MsgWithdrawRewards::decode(&bad.encode_to_vec())
                .unwrap_err()
                .code,
            7
        );
    }
}
