//! `/ballast.consumers.v1.MsgOptOut`: an operator's owner opts it out of a live consumer at the
//! end of the current epoch (a pending allocation of 0). The allocation in force stays
//! slashable, and counts towards the operator's caps, until that epoch +
//! `deallocation_delay_epochs`.

use super::opt_in::apply_ended;
use super::{decode_proto, message_event, parse_address, require_operator_owner};
use crate::consumer::{self, ConsumerId};
use crate::opt_in::{self, parse_operator, PendingChange};
use crate::{events, params, ConsumersError};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::{OperatorId, PowerTableRead};

/// A decoded opt-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgOptOut {
    /// The operator's owner (signer).
    pub owner: Address,
    /// The operator.
    pub operator: OperatorId,
    /// The consumer.
    pub consumer_id: ConsumerId,
}

impl MsgOptOut {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgOptOut) -> Result<Self, ConsumersError> {
        Ok(MsgOptOut {
            owner: parse_address("owner", &m.owner)?,
            operator: parse_operator("operator_btc_pk", &m.operator_btc_pk)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
        })
    }
}

impl MsgHandler for MsgOptOut {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgOptOut";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgOptOut::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        let params = params::load(state)?;
        let c = consumer::require(state, &self.consumer_id)?;
        c.require_live()?;
        require_operator_owner(state, &self.operator, &self.owner)?;
        let current = state.current_epoch().map_err(ConsumersError::from)?;
        let not_opted_in = || ConsumersError::NotOptedIn {
            operator: self.operator.to_string(),
            consumer_id: self.consumer_id.to_string(),
        };
        let mut o =
            opt_in::load(state, &self.consumer_id, &self.operator)?.ok_or_else(not_opted_in)?;
        apply_ended(state, &c, &mut o, current, params.deallocation_delay_epochs)?;
        // What the opt-in is heading for: the pending allocation, else the one in force.
        let target = o
            .pending
            .map(|p| p.allocation_bps)
            .unwrap_or(o.allocation_bps);
        if target == 0 {
            return Err(not_opted_in().into());
        }
        o.pending = Some(PendingChange {
            allocation_bps: 0,
            key: None,
            epoch: current,
        });
        opt_in::save(state, &o)?;
        let slashable_until = if o.allocation_bps > 0 {
            current.saturating_add(params.deallocation_delay_epochs)
        } else {
            o.slashable_until_epoch
        };
        state.emit_event(events::opt_out(&o, current, slashable_until));
        state.emit_event(message_event(Self::TYPE_URL, &self.owner));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballast_framework::MemState;
    use prost::Message;

    fn msg(owner: &Address, op: &OperatorId, id: &str) -> Result<MsgOptOut, TxError> {
        MsgOptOut::decode(
            &pb::MsgOptOut {
                owner: owner.to_string(),
                operator_btc_pk: op.to_bytes().to_vec(),
                consumer_id: id.into(),
            }
            .encode_to_vec(),
        )
    }

    #[test]
    fn opting_out_is_pending_until_the_epoch_end() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), "c", 100);
        opt_in_op(&mut s, 1, &op, "c", 1, 3_000).unwrap();
        end_epoch(&mut s, 10);
        run(&mut s, &msg(&owner(1), &op, "c").unwrap()).unwrap();
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!(o.allocation_bps, 3_000);
        assert_eq!(o.pending.map(|p| (p.allocation_bps, p.epoch)), Some((0, 2)));
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == events::OPT_OUT && e.get("slashable_until_epoch") == Some("16")));
        // Opting out twice is refused.
        let e = run(&mut s, &msg(&owner(1), &op, "c").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 20));
        end_epoch(&mut s, 20);
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!(
            (o.allocation_bps, o.slashable_bps, o.slashable_until_epoch),
            (0, 3_000, 16)
        );
    }

    #[test]
    fn refusals_have_their_codes() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        assert_eq!(
            msg(&owner(1), &OperatorId::new([1; 32]), "")
                .unwrap_err()
                .code,
            4
        );
        let bad = pb::MsgOptOut {
            owner: owner(1).to_string(),
            operator_btc_pk: vec![1; 5],
            consumer_id: "c".into(),
        };
        assert_eq!(
            MsgOptOut::decode(&bad.encode_to_vec()).unwrap_err().code,
            14
        );
        let e = run(&mut s, &msg(&owner(1), &op, "c").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 20));
        let e = run(&mut s, &msg(&owner(2), &op, "c").unwrap()).unwrap_err();
        assert_eq!(e.code, 16);
        let e = run(
            &mut s,
            &msg(&owner(1), &OperatorId::new([3; 32]), "c").unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, 15);
        let e = run(&mut s, &msg(&owner(1), &op, "d").unwrap()).unwrap_err();
        assert_eq!(e.code, 11);
        // An opt-in not yet in force can be withdrawn.
        opt_in_op(&mut s, 1, &op, "c", 1, 3_000).unwrap();
        run(&mut s, &msg(&owner(1), &op, "c").unwrap()).unwrap();
        remove(&mut s, &user(1), "c");
        let e = run(&mut s, &msg(&owner(1), &op, "c").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 13));
    }
}
