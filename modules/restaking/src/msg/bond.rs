//! `/ballast.restaking.v1.MsgBondNative` and `/ballast.restaking.v1.MsgUnbondNative`: ubal
//! bonded to and unbonded from an operator.

use super::{decode_proto, message_event, parse_address};
use crate::native;
use crate::operator::OperatorId;
use crate::power::parse_amount;
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;

/// A decoded bond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgBondNative {
    /// The delegator (signer).
    pub delegator: Address,
    /// The operator.
    pub operator: OperatorId,
    /// ubal, positive.
    pub amount: u128,
}

impl MsgHandler for MsgBondNative {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgBondNative";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m: pb::MsgBondNative = decode_proto(value)?;
        Ok(MsgBondNative {
            delegator: parse_address("delegator", &m.delegator)?,
            operator: OperatorId::from_slice(&m.operator_btc_pk, "operator_btc_pk")?,
            amount: parse_amount("amount", &m.amount, false)?,
        })
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.delegator]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        native::bond(state, &self.delegator, &self.operator, self.amount)?;
        state.emit_event(message_event(Self::TYPE_URL, &self.delegator));
        Ok(())
    }
}

/// A decoded unbond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgUnbondNative {
    /// The delegator (signer).
    pub delegator: Address,
    /// The operator.
    pub operator: OperatorId,
    /// ubal, positive.
    pub amount: u128,
}

impl MsgHandler for MsgUnbondNative {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgUnbondNative";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m: pb::MsgUnbondNative = decode_proto(value)?;
        Ok(MsgUnbondNative {
            delegator: parse_address("delegator", &m.delegator)?,
            operator: OperatorId::from_slice(&m.operator_btc_pk, "operator_btc_pk")?,
            amount: parse_amount("amount", &m.amount, false)?,
        })
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.delegator]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        native::unbond(state, &self.delegator, &self.operator, self.amount)?;
        state.emit_event(message_event(Self::TYPE_URL, &self.delegator));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerTableRead;
    use crate::testutil::*;
    use crate::{module_account, BOND_DENOM};
    use ballast_accounts::AccountsRead;
    use ballast_framework::MemState;
    use prost::Message;

    fn bond_bytes(d: &Address, op: &OperatorId, amount: &str) -> Vec<u8> {
        pb::MsgBondNative {
            delegator: d.to_string(),
            operator_btc_pk: op.to_bytes().to_vec(),
            amount: amount.into(),
        }
        .encode_to_vec()
    }

    fn unbond_bytes(d: &Address, op: &OperatorId, amount: &str) -> Vec<u8> {
        pb::MsgUnbondNative {
            delegator: d.to_string(),
            operator_btc_pk: op.to_bytes().to_vec(),
            amount: amount.into(),
        }
        .encode_to_vec()
    }

    #[test]
    fn bond_and_unbond_through_messages() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let d = Address([0x71; 20]);
        fund(&mut s, &d, 5_000_000);
        let m = MsgBondNative::decode(&bond_bytes(&d, &op, "5000000")).unwrap();
        assert_eq!(m.signers(), vec![d]);
        run(&mut s, &m).unwrap();
        assert_eq!(s.operator_power(&op).unwrap().unwrap().power, 5);
        assert_eq!(s.balance(&module_account(), BOND_DENOM).unwrap(), 5_000_000);
        let u = MsgUnbondNative::decode(&unbond_bytes(&d, &op, "2000000")).unwrap();
        run(&mut s, &u).unwrap();
        assert_eq!(s.operator_power(&op).unwrap().unwrap().power, 3);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "restaking.native_unbonding_started"
                && e.get("completion_epoch") == Some("8")));
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "message" && e.get("action") == Some(MsgUnbondNative::TYPE_URL)));
    }

    #[test]
    fn bad_amounts_balances_and_operators_are_rejected() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let d = Address([0x72; 20]);
        fund(&mut s, &d, 1_000);
        for bad in [
            "0",
            "",
            "-5",
            "1.5",
            "1e3",
            "340282366920938463463374607431768211456",
        ] {
            let e = MsgBondNative::decode(&bond_bytes(&d, &op, bad)).unwrap_err();
            assert_eq!((e.codespace, e.code), ("restaking", 9), "{bad:?}");
            let e = MsgUnbondNative::decode(&unbond_bytes(&d, &op, bad)).unwrap_err();
            assert_eq!((e.codespace, e.code), ("restaking", 9), "{bad:?}");
        }
        let e = MsgBondNative::decode(
            &pb::MsgBondNative {
                delegator: "ballast1xyz".into(),
                operator_btc_pk: op.to_bytes().to_vec(),
                amount: "1".into(),
            }
            .encode_to_vec(),
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 7));
        let e = MsgBondNative::decode(
            &pb::MsgBondNative {
                delegator: d.to_string(),
                operator_btc_pk: vec![1; 20],
                amount: "1".into(),
            }
            .encode_to_vec(),
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 4));
        // More than the balance.
        let m = MsgBondNative::decode(&bond_bytes(&d, &op, "1001")).unwrap();
        let e = run(&mut s, &m).unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 5));
        // Unknown operator.
        let m = MsgBondNative::decode(&bond_bytes(&d, &OperatorId::new([3; 32]), "1")).unwrap();
        assert_eq!(run(&mut s, &m).unwrap_err().code, 12);
        // More than bonded.
        run(
            &mut s,
            &MsgBondNative::decode(&bond_bytes(&d, &op, "600")).unwrap(),
        )
        .unwrap();
        let e = run(
            &mut s,
            &MsgUnbondNative::decode(&unbond_bytes(&d, &op, "601")).unwrap(),
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 15));
        let e = MsgUnbondNative::decode(&[0x0a, 0x05]).unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 2));
    }
}
