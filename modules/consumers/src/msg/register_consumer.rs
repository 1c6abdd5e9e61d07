//! `/ballast.consumers.v1.MsgRegisterConsumer`: registers a consumer (REGISTERED, empty lease);
//! the signer is its owner.

use super::{decode_proto, message_event, parse_address};
use crate::consumer::{self, AllocationMode, Consumer, ConsumerId, Status, Terms};
use crate::{events, params, ConsumersError};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::PowerTableRead;

/// A decoded registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRegisterConsumer {
    /// The owner (signer).
    pub owner: Address,
    /// The consumer's chain id.
    pub consumer_id: ConsumerId,
    /// Its terms (their bounds are checked against the params at execution).
    pub terms: Terms,
    /// Its allocation mode.
    pub mode: AllocationMode,
}

impl MsgRegisterConsumer {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgRegisterConsumer) -> Result<Self, ConsumersError> {
        Ok(MsgRegisterConsumer {
            owner: parse_address("owner", &m.owner)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
            terms: Terms::parse(
                m.terms
                    .as_ref()
                    .ok_or_else(|| ConsumersError::InvalidTerms("terms are missing".into()))?,
            )?,
            mode: AllocationMode::from_i32(m.allocation_mode)?,
        })
    }
}

impl MsgHandler for MsgRegisterConsumer {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgRegisterConsumer";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgRegisterConsumer::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        let params = params::load(state)?;
        self.terms.validate(&params)?;
        if consumer::load(state, &self.consumer_id)?.is_some() {
            return Err(ConsumersError::ConsumerExists(self.consumer_id.to_string()).into());
        }
        let c = Consumer {
            id: self.consumer_id.clone(),
            owner: self.owner,
            terms: self.terms.clone(),
            mode: self.mode,
            status: Status::Registered,
            lease_balance: 0,
            registered_height: ctx.block.height,
            registered_epoch: state.current_epoch().map_err(ConsumersError::from)?,
            activated_epoch: 0,
            stopped_height: 0,
            last_update_id: 0,
            last_processed_epoch: 0,
            total_paid: 0,
            opt_in_count: 0,
        };
        consumer::save(state, &c)?;
        state.emit_event(events::consumer_registered(&c));
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
    fn registers_once_with_valid_terms() {
        let mut s = MemState::new();
        init(&mut s);
        let m = register_msg(&user(1), "chain-a", 10, pb::AllocationMode::Shared);
        run(
            &mut s,
            &MsgRegisterConsumer::decode(&m.encode_to_vec()).unwrap(),
        )
        .unwrap();
        let c = consumer::require(&s, &cid("chain-a")).unwrap();
        assert_eq!(
            (c.status, c.owner, c.lease_balance),
            (Status::Registered, user(1), 0)
        );
        assert_eq!((c.registered_height, c.registered_epoch), (7, 1));
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == events::CONSUMER_REGISTERED
                && e.get("consumer_id") == Some("chain-a")));
        // Ids are never reused, not even by the same owner.
        let e = run(
            &mut s,
            &MsgRegisterConsumer::decode(&m.encode_to_vec()).unwrap(),
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 10));
    }

    #[test]
    fn refusals_have_their_codes() {
        let mut s = MemState::new();
        init_with(
            &mut s,
            crate::Params {
                min_fee_per_epoch: 5,
                max_operators_cap: 4,
                ..crate::Params::default()
            },
        );
        let mut ok = register_msg(&user(1), "c", 5, pb::AllocationMode::Isolated);
        ok.terms.as_mut().unwrap().max_operators = 4;
        let decode = |m: &pb::MsgRegisterConsumer| MsgRegisterConsumer::decode(&m.encode_to_vec());
        let mut bad = ok.clone();
        bad.owner = "nope".into();
        assert_eq!(decode(&bad).unwrap_err().code, 7);
        let mut bad = ok.clone();
        bad.consumer_id = "has space".into();
        assert_eq!(decode(&bad).unwrap_err().code, 4);
        let mut bad = ok.clone();
        bad.allocation_mode = 0;
        assert_eq!(decode(&bad).unwrap_err().code, 6);
        let mut bad = ok.clone();
        bad.terms = None;
        assert_eq!(decode(&bad).unwrap_err().code, 5);
        let mut bad = ok.clone();
        bad.terms.as_mut().unwrap().double_sign_slash_fraction = "2".into();
        assert_eq!(decode(&bad).unwrap_err().code, 5);
        assert_eq!(decode_err_code(&[0xff, 0xff]), 2);
        // Bounds from the params are checked at execution.
        for f in [
            |t: &mut pb::ConsumerTerms| t.fee_per_epoch = "4".into(),
            |t: &mut pb::ConsumerTerms| t.max_operators = 5,
            |t: &mut pb::ConsumerTerms| t.max_operators = 0,
            |t: &mut pb::ConsumerTerms| t.min_operators = 0,
            |t: &mut pb::ConsumerTerms| {
                t.min_operators = 3;
                t.max_operators = 2
            },
        ] {
            let mut m = ok.clone();
            f(m.terms.as_mut().unwrap());
            let e = run(&mut s, &decode(&m).unwrap()).unwrap_err();
            assert_eq!((e.codespace, e.code), ("consumers", 5), "{m:?}");
        }
        assert!(consumer::load(&s, &cid("c")).unwrap().is_none());
        run(&mut s, &decode(&ok).unwrap()).unwrap();
    }

    fn decode_err_code(bytes: &[u8]) -> u32 {
        MsgRegisterConsumer::decode(bytes).unwrap_err().code
    }
}
