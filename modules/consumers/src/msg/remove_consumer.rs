//! `/ballast.consumers.v1.MsgRemoveConsumer`: the owner stops a consumer now (STOPPED,
//! reason REMOVED). An ACTIVE consumer that an epoch-end run has yet to process for an ended
//! epoch is processed for it first (that epoch's fee is paid, its update written). The rest of
//! the lease goes back to the owner, and every opt-in's allocation stays slashable until the
//! current epoch + `deallocation_delay_epochs`.

use super::{decode_proto, message_event, parse_address};
use crate::consumer::{self, ConsumerId, Status, StopReason};
use crate::error::corrupt;
use crate::{epoch, opt_in, params, ConsumersError};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::PowerTableRead;

/// A decoded removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRemoveConsumer {
    /// The owner (signer).
    pub owner: Address,
    /// The consumer.
    pub consumer_id: ConsumerId,
}

impl MsgRemoveConsumer {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgRemoveConsumer) -> Result<Self, ConsumersError> {
        Ok(MsgRemoveConsumer {
            owner: parse_address("owner", &m.owner)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
        })
    }
}

impl MsgHandler for MsgRemoveConsumer {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgRemoveConsumer";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgRemoveConsumer::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        let params = params::load(state)?;
        let mut c = consumer::require(state, &self.consumer_id)?;
        c.require_owner(&self.owner)?;
        c.require_live()?;
        // An ACTIVE consumer owes the epochs that ended and that a recorded run has yet to
        // process it for (the run in progress, then the one queued): it is processed for them
        // first, as the run would have (fee drawn and paid, update written).
        for _ in 0..2 {
            if c.status != Status::Active {
                break;
            }
            let Some(e) = epoch::next_recorded_processing(state, &c)? else {
                break;
            };
            let snapshot = state
                .power_snapshot(e)
                .map_err(ConsumersError::from)?
                .ok_or_else(|| {
                    corrupt(format!(
                        "restaking has no power snapshot of ended epoch {e}"
                    ))
                })?;
            epoch::process_consumer(state, ctx.block, &c.id, &snapshot, &params)?;
            c = consumer::require(state, &self.consumer_id)?;
        }
        if c.status.is_stopped() {
            // That processing found the lease exhausted: stopped, and the rest refunded.
            state.emit_event(message_event(Self::TYPE_URL, &self.owner));
            return Ok(());
        }
        let current = state.current_epoch().map_err(ConsumersError::from)?;
        let mut opt_ins = opt_in::of_consumer(state, &self.consumer_id)?;
        epoch::stop(
            state,
            &mut c,
            &mut opt_ins,
            StopReason::Removed,
            current,
            ctx.block.height,
            &params,
        )?;
        state.emit_event(message_event(Self::TYPE_URL, &self.owner));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{module_account, ConsumersRead};
    use ballast_accounts::AccountsRead;
    use ballast_framework::MemState;
    use prost::Message;

    fn msg(owner: &Address, id: &str) -> MsgRemoveConsumer {
        MsgRemoveConsumer::decode(
            &pb::MsgRemoveConsumer {
                owner: owner.to_string(),
                consumer_id: id.into(),
            }
            .encode_to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn removal_stops_refunds_and_leaves_allocations_slashable() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), "c", 500);
        opt_in_op(&mut s, 1, &op, "c", 2, 4_000).unwrap();
        end_epoch(&mut s, 10);
        assert_eq!(
            consumer::require(&s, &cid("c")).unwrap().status,
            Status::Active
        );
        let before = s.balance(&user(1), "ubal").unwrap();
        let e = run(&mut s, &msg(&user(2), "c")).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 12));
        run(&mut s, &msg(&user(1), "c")).unwrap();
        let c = consumer::require(&s, &cid("c")).unwrap();
        assert_eq!(c.status, Status::Stopped(StopReason::Removed));
        assert_eq!((c.lease_balance, c.stopped_height), (0, 7));
        assert_eq!(s.balance(&user(1), "ubal").unwrap(), before + 490);
        assert_eq!(s.balance(&module_account(), "ubal").unwrap(), 0);
        // Epoch 2 is current: 4000 bps stay slashable until 2 + 14.
        assert_eq!(s.slashable_allocation(&op, &cid("c"), 16).unwrap(), 4_000);
        assert_eq!(s.slashable_allocation(&op, &cid("c"), 17).unwrap(), 0);
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!((o.allocation_bps, o.pending), (0, None));
        let e = run(&mut s, &msg(&user(1), "c")).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 13));
        let e = run(&mut s, &msg(&user(1), "zz")).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 11));
        assert_eq!(
            MsgRemoveConsumer::decode(&[0x0a, 0x05]).unwrap_err().code,
            2
        );
    }
}
