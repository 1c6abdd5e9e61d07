//! `/ballast.consumers.v1.MsgOptIn`: an operator's owner opts it in to a live consumer with a
//! consumer key and an allocation, or changes them. The change is recorded as pending, tagged
//! with the current epoch, and takes effect at that epoch's end. A pending change of an epoch
//! that already ended is applied first, or, while a lagging run has yet to process the
//! consumer for an earlier epoch, the new change is refused. The operator must have power in
//! restaking, the key must not serve another operator or consumer, the operator must stay
//! within its allocation cap, and a consumer takes a new operator only below
//! `max_opt_ins_per_consumer` opt-ins.

use super::{decode_proto, message_event, parse_address, require_operator_owner};
use crate::consumer::{self, Consumer, ConsumerId};
use crate::opt_in::{self, check_allocation, parse_operator, ConsumerKey, OptIn, PendingChange};
use crate::{allocation, epoch, events, params, ConsumersError};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::{OperatorId, PowerTableRead};

/// A decoded opt-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgOptIn {
    /// The operator's owner (signer).
    pub owner: Address,
    /// The operator.
    pub operator: OperatorId,
    /// The consumer.
    pub consumer_id: ConsumerId,
    /// The key it signs the consumer chain with.
    pub key: ConsumerKey,
    /// 1 to 10000.
    pub allocation_bps: u32,
}

impl MsgOptIn {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgOptIn) -> Result<Self, ConsumersError> {
        Ok(MsgOptIn {
            owner: parse_address("owner", &m.owner)?,
            operator: parse_operator("operator_btc_pk", &m.operator_btc_pk)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
            key: ConsumerKey::parse(&m.consumer_pubkey)?,
            allocation_bps: check_allocation(m.allocation_bps)?,
        })
    }
}

/// Before a new change is recorded: applies a pending change whose epoch already ended when
/// no recorded run will process the consumer for an earlier epoch first (the next processing
/// would apply it anyway). Otherwise applying it now would put it in force one epoch early, so
/// the new change is refused until the consumer's processing catches up. A change of the
/// epoch in progress is left for the new one to replace.
pub(crate) fn apply_ended<S: StateWrite + ?Sized>(
    state: &mut S,
    c: &Consumer,
    o: &mut OptIn,
    current_epoch: u64,
    delay: u64,
) -> Result<(), ConsumersError> {
    let Some(p) = o.pending.filter(|p| p.epoch < current_epoch) else {
        return Ok(());
    };
    if let Some(next) = epoch::next_recorded_processing(state, c)? {
        if next < p.epoch {
            return Err(ConsumersError::ChangeStillPending {
                operator: o.operator.to_string(),
                consumer_id: o.consumer.to_string(),
                epoch: p.epoch,
                processing_epoch: next,
            });
        }
    }
    if let Some(applied) = o.apply_due(p.epoch, current_epoch, delay) {
        state.emit_event(events::allocation_applied(o, &applied));
    }
    Ok(())
}

impl MsgHandler for MsgOptIn {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgOptIn";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgOptIn::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        let params = params::load(state)?;
        let mut c = consumer::require(state, &self.consumer_id)?;
        c.require_live()?;
        require_operator_owner(state, &self.operator, &self.owner)?;
        let power = state
            .operator_power(&self.operator)
            .map_err(ConsumersError::from)?
            .map(|p| p.power)
            .unwrap_or(0);
        if power == 0 {
            return Err(ConsumersError::OperatorWithoutPower(self.operator.to_string()).into());
        }
        let current = state.current_epoch().map_err(ConsumersError::from)?;
        let existing = opt_in::load(state, &self.consumer_id, &self.operator)?;
        if existing.is_none() {
            if c.opt_in_count >= u64::from(params.max_opt_ins_per_consumer) {
                return Err(ConsumersError::TooManyOptIns {
                    consumer_id: self.consumer_id.to_string(),
                    count: c.opt_in_count,
                    max: params.max_opt_ins_per_consumer,
                }
                .into());
            }
            c.opt_in_count = c.opt_in_count.saturating_add(1);
            consumer::save(state, &c)?;
        }
        let updated = match existing {
            Some(mut o) => {
                apply_ended(state, &c, &mut o, current, params.deallocation_delay_epochs)?;
                o.pending = Some(PendingChange {
                    allocation_bps: self.allocation_bps,
                    key: (self.key != o.key).then_some(self.key),
                    epoch: current,
                });
                o
            }
            None => OptIn::new(
                self.consumer_id.clone(),
                self.operator,
                self.key,
                self.allocation_bps,
                current,
            ),
        };
        opt_in::claim_key(state, &self.key, &self.consumer_id, &self.operator)?;
        allocation::check_caps(state, &updated, c.mode, current, &params)?;
        opt_in::save(state, &updated)?;
        state.emit_event(events::opt_in(
            &updated,
            &self.key,
            self.allocation_bps,
            current,
        ));
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

    #[test]
    fn records_a_pending_change_for_the_current_epoch() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        opt_in_op(&mut s, 1, &op, "c", 7, 2_500).unwrap();
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!(
            o.allocation_bps, 0,
            "nothing in force before the epoch ends"
        );
        assert_eq!(
            o.pending,
            Some(PendingChange {
                allocation_bps: 2_500,
                key: None,
                epoch: 1
            })
        );
        assert_eq!(o.key, consumer_key(7));
        // Re-sending within the epoch replaces the pending change; a new key is pending too.
        opt_in_op(&mut s, 1, &op, "c", 8, 3_000).unwrap();
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!(
            o.pending,
            Some(PendingChange {
                allocation_bps: 3_000,
                key: Some(consumer_key(8)),
                epoch: 1
            })
        );
        // Both keys now belong to (c, op) for good.
        assert_eq!(
            opt_in::key_user(&s, &consumer_key(7)).unwrap(),
            Some((cid("c"), op))
        );
        assert_eq!(
            opt_in::key_user(&s, &consumer_key(8)).unwrap(),
            Some((cid("c"), op))
        );
    }

    #[test]
    fn a_change_of_an_ended_epoch_is_applied_before_the_next_is_recorded() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        opt_in_op(&mut s, 1, &op, "c", 7, 5_000).unwrap();
        // Epoch 1 ends in restaking only: the consumers run has not reached "c" yet.
        end_restaking_epoch(&mut s, 10);
        opt_in_op(&mut s, 1, &op, "c", 7, 1_000).unwrap();
        let o = opt_in::load(&s, &cid("c"), &op).unwrap().unwrap();
        assert_eq!(o.allocation_bps, 5_000);
        assert_eq!(
            o.pending.map(|p| (p.allocation_bps, p.epoch)),
            Some((1_000, 2))
        );
    }

    #[test]
    fn refusals_have_their_codes() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, 100);
        let other = register_op(&mut s, 2, 100);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        register(&mut s, &user(1), "d", 10, pb::AllocationMode::Shared);
        let ok = opt_in_msg(&owner(1), &op, "c", &consumer_key(1), 100);
        let decode = |m: &pb::MsgOptIn| MsgOptIn::decode(&m.encode_to_vec());
        for (f, code) in [
            (
                (|m: &mut pb::MsgOptIn| m.allocation_bps = 0) as fn(&mut pb::MsgOptIn),
                8,
            ),
            (|m| m.allocation_bps = 10_001, 8),
            (|m| m.consumer_pubkey = vec![1; 31], 7),
            (
                |m| {
                    let mut k = vec![0u8; 32];
                    k[0] = 2;
                    m.consumer_pubkey = k
                },
                7,
            ),
            (|m| m.operator_btc_pk = vec![1; 33], 14),
            (|m| m.consumer_id = "a/b".into(), 4),
        ] {
            let mut m = ok.clone();
            f(&mut m);
            let e = decode(&m).unwrap_err();
            assert_eq!((e.codespace, e.code), ("consumers", code), "{m:?}");
        }
        let mut m = ok.clone();
        m.owner = "x".into();
        assert_eq!(decode(&m).unwrap_err().code, 7);
        // Against state.
        let mut m = ok.clone();
        m.consumer_id = "zz".into();
        assert_eq!(run(&mut s, &decode(&m).unwrap()).unwrap_err().code, 11);
        let mut m = ok.clone();
        m.operator_btc_pk = vec![9; 32];
        let e = run(&mut s, &decode(&m).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 15));
        let mut m = ok.clone();
        m.owner = owner(2).to_string();
        let e = run(&mut s, &decode(&m).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 16));
        // Key reuse: by another operator on the same consumer, or by the same operator on
        // another consumer.
        run(&mut s, &decode(&ok).unwrap()).unwrap();
        let e = opt_in_op(&mut s, 2, &other, "c", 1, 100).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 19));
        let e = opt_in_op(&mut s, 1, &op, "d", 1, 100).unwrap_err();
        assert_eq!(e.code, 19);
        opt_in_op(&mut s, 1, &op, "d", 2, 100).unwrap();
        remove(&mut s, &user(1), "c");
        let e = run(&mut s, &decode(&ok).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 13));
    }
}
