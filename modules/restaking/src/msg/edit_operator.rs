//! `/ballast.restaking.v1.MsgEditOperator`: the owner changes its operator's commission (by at
//! most `max_commission_change` per epoch) and/or description.

use super::{decode_proto, message_event, parse_address};
use crate::operator::{self, parse_commission, Description, OperatorId};
use ballast_framework::{Address, Decimal, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;

/// A decoded edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgEditOperator {
    /// The owner (signer).
    pub owner: Address,
    /// The operator.
    pub operator: OperatorId,
    /// New commission, if it changes.
    pub commission: Option<Decimal>,
    /// New description, if it changes.
    pub description: Option<Description>,
}

impl MsgEditOperator {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgEditOperator) -> Result<Self, crate::RestakingError> {
        Ok(MsgEditOperator {
            owner: parse_address("owner", &m.owner)?,
            operator: OperatorId::from_slice(&m.btc_pk, "btc_pk")?,
            commission: match m.commission.as_str() {
                "" => None,
                c => Some(parse_commission(c)?),
            },
            description: m.description.map(Description::try_from).transpose()?,
        })
    }
}

impl MsgHandler for MsgEditOperator {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgEditOperator";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgEditOperator::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        operator::edit(
            state,
            &self.owner,
            &self.operator,
            self.commission,
            self.description.clone(),
        )?;
        state.emit_event(message_event(Self::TYPE_URL, &self.owner));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{set_epoch_ended, PowerTableRead};
    use crate::testutil::*;
    use ballast_framework::MemState;
    use prost::Message;

    fn edit(op: &OperatorId, sender: &Address, commission: &str) -> MsgEditOperator {
        let m = pb::MsgEditOperator {
            owner: sender.to_string(),
            btc_pk: op.to_bytes().to_vec(),
            commission: commission.into(),
            description: None,
        };
        MsgEditOperator::decode(&m.encode_to_vec()).unwrap()
    }

    #[test]
    fn commission_moves_at_most_the_max_change_per_epoch() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op_with(&mut s, 1, None, "0.05");
        run(&mut s, &edit(&op, &owner(1), "0.055")).unwrap();
        run(&mut s, &edit(&op, &owner(1), "0.06")).unwrap();
        // 0.061 is 0.011 away from 0.05, the commission when epoch 1 started.
        let e = run(&mut s, &edit(&op, &owner(1), "0.061")).unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 14));
        assert!(
            e.log.contains("0.05") && e.log.contains("epoch 1"),
            "{}",
            e.log
        );
        run(&mut s, &edit(&op, &owner(1), "0.04")).unwrap();
        set_epoch_ended(&mut s, 1).unwrap();
        // Epoch 2 measures from 0.04.
        assert_eq!(
            run(&mut s, &edit(&op, &owner(1), "0.051"))
                .unwrap_err()
                .code,
            14
        );
        run(&mut s, &edit(&op, &owner(1), "0.05")).unwrap();
        let o = s.operator(&op).unwrap().unwrap();
        assert_eq!(o.commission.to_string(), "0.05");
        assert_eq!(
            (o.commission_epoch, o.commission_at_epoch_start.to_string()),
            (2, "0.04".to_string())
        );
    }

    #[test]
    fn only_the_owner_edits_and_the_description_is_checked() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, None);
        let e = run(&mut s, &edit(&op, &owner(2), "0.05")).unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 13));
        let e = run(&mut s, &edit(&OperatorId::new([4; 32]), &owner(1), "")).unwrap_err();
        assert_eq!(e.code, 12);
        let m = pb::MsgEditOperator {
            owner: owner(1).to_string(),
            btc_pk: op.to_bytes().to_vec(),
            commission: String::new(),
            description: Some(pb::Description {
                moniker: "renamed".into(),
                website: "https://example.org".into(),
                ..Default::default()
            }),
        };
        run(
            &mut s,
            &MsgEditOperator::decode(&m.encode_to_vec()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            s.operator(&op).unwrap().unwrap().description.moniker,
            "renamed"
        );
        let mut bad = m.clone();
        bad.description = Some(pb::Description::default());
        assert_eq!(
            MsgEditOperator::decode(&bad.encode_to_vec())
                .unwrap_err()
                .code,
            8
        );
        let mut bad = m.clone();
        bad.commission = "abc".into();
        assert_eq!(
            MsgEditOperator::decode(&bad.encode_to_vec())
                .unwrap_err()
                .code,
            7
        );
        let mut bad = m;
        bad.btc_pk = vec![1; 3];
        assert_eq!(
            MsgEditOperator::decode(&bad.encode_to_vec())
                .unwrap_err()
                .code,
            4
        );
    }
}
