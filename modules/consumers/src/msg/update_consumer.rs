//! `/ballast.consumers.v1.MsgUpdateConsumer`: the owner changes a live consumer's terms and/or
//! hands it to another owner. Fields left unset keep their value; the new terms are checked
//! whole against the params, and the epoch-end processing uses them from its next run.

use super::{decode_proto, message_event, parse_address};
use crate::consumer::{self, parse_fee, parse_fraction, ConsumerId};
use crate::{events, params, ConsumersError};
use ballast_framework::{Address, Decimal, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;

/// A decoded update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgUpdateConsumer {
    /// The owner (signer).
    pub owner: Address,
    /// The consumer.
    pub consumer_id: ConsumerId,
    /// New name.
    pub name: Option<String>,
    /// New fee per epoch.
    pub fee_per_epoch: Option<u128>,
    /// New least operator count for activation.
    pub min_operators: Option<u32>,
    /// New most operators in the set.
    pub max_operators: Option<u32>,
    /// New slash fraction.
    pub double_sign_slash_fraction: Option<Decimal>,
    /// New jail length.
    pub jail_epochs: Option<u64>,
    /// New owner.
    pub new_owner: Option<Address>,
}

impl MsgUpdateConsumer {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgUpdateConsumer) -> Result<Self, ConsumersError> {
        Ok(MsgUpdateConsumer {
            owner: parse_address("owner", &m.owner)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
            name: m.name,
            fee_per_epoch: m.fee_per_epoch.as_deref().map(parse_fee).transpose()?,
            min_operators: m.min_operators,
            max_operators: m.max_operators,
            double_sign_slash_fraction: m
                .double_sign_slash_fraction
                .as_deref()
                .map(parse_fraction)
                .transpose()?,
            jail_epochs: m.jail_epochs,
            new_owner: m
                .new_owner
                .as_deref()
                .map(|a| parse_address("new_owner", a))
                .transpose()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.fee_per_epoch.is_none()
            && self.min_operators.is_none()
            && self.max_operators.is_none()
            && self.double_sign_slash_fraction.is_none()
            && self.jail_epochs.is_none()
            && self.new_owner.is_none()
    }
}

impl MsgHandler for MsgUpdateConsumer {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgUpdateConsumer";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgUpdateConsumer::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        if self.is_empty() {
            return Err(ConsumersError::InvalidTerms(
                "the update changes nothing: set at least one field".into(),
            )
            .into());
        }
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        let params = params::load(state)?;
        let mut c = consumer::require(state, &self.consumer_id)?;
        c.require_owner(&self.owner)?;
        c.require_live()?;
        let t = &mut c.terms;
        if let Some(v) = &self.name {
            t.name = v.clone();
        }
        if let Some(v) = self.fee_per_epoch {
            t.fee_per_epoch = v;
        }
        if let Some(v) = self.min_operators {
            t.min_operators = v;
        }
        if let Some(v) = self.max_operators {
            t.max_operators = v;
        }
        if let Some(v) = self.double_sign_slash_fraction {
            t.double_sign_slash_fraction = v;
        }
        if let Some(v) = self.jail_epochs {
            t.jail_epochs = v;
        }
        t.validate(&params)?;
        if let Some(o) = self.new_owner {
            c.owner = o;
        }
        consumer::save(state, &c)?;
        state.emit_event(events::consumer_updated(&c));
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

    fn update(owner: &Address, id: &str) -> pb::MsgUpdateConsumer {
        pb::MsgUpdateConsumer {
            owner: owner.to_string(),
            consumer_id: id.into(),
            ..Default::default()
        }
    }

    fn decoded(m: &pb::MsgUpdateConsumer) -> Result<MsgUpdateConsumer, TxError> {
        MsgUpdateConsumer::decode(&m.encode_to_vec())
    }

    #[test]
    fn the_owner_changes_terms_and_hands_the_consumer_over() {
        let mut s = MemState::new();
        init(&mut s);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        let mut m = update(&user(1), "c");
        m.fee_per_epoch = Some("20".into());
        m.max_operators = Some(7);
        m.name = Some("renamed".into());
        run(&mut s, &decoded(&m).unwrap()).unwrap();
        let c = consumer::require(&s, &cid("c")).unwrap();
        assert_eq!(
            (
                c.terms.fee_per_epoch,
                c.terms.max_operators,
                c.terms.name.as_str()
            ),
            (20, 7, "renamed")
        );
        assert_eq!(c.terms.min_operators, 1, "unset fields keep their value");
        let mut m = update(&user(1), "c");
        m.new_owner = Some(user(2).to_string());
        run(&mut s, &decoded(&m).unwrap()).unwrap();
        // The old owner lost it; the new one has it.
        let mut m = update(&user(1), "c");
        m.jail_epochs = Some(3);
        let e = run(&mut s, &decoded(&m).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 12));
        m.owner = user(2).to_string();
        run(&mut s, &decoded(&m).unwrap()).unwrap();
        assert_eq!(
            consumer::require(&s, &cid("c")).unwrap().terms.jail_epochs,
            3
        );
    }

    #[test]
    fn refusals_have_their_codes() {
        let mut s = MemState::new();
        init(&mut s);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        // Nothing to change.
        let e = decoded(&update(&user(1), "c"))
            .unwrap()
            .check_stateless()
            .unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 5));
        let mut m = update(&user(1), "c");
        m.fee_per_epoch = Some("x".into());
        assert_eq!(decoded(&m).unwrap_err().code, 5);
        let mut m = update(&user(1), "c");
        m.new_owner = Some("bad".into());
        assert_eq!(decoded(&m).unwrap_err().code, 7);
        let mut m = update(&user(1), "c");
        m.fee_per_epoch = Some("0".into());
        let e = run(&mut s, &decoded(&m).unwrap()).unwrap_err();
        assert_eq!(
            (e.codespace, e.code),
            ("consumers", 5),
            "below min_fee_per_epoch"
        );
        let mut m = update(&user(1), "c");
        m.min_operators = Some(11);
        let e = run(&mut s, &decoded(&m).unwrap()).unwrap_err();
        assert_eq!(e.code, 5, "min_operators above max_operators 10");
        let mut m = update(&user(1), "nope");
        m.jail_epochs = Some(1);
        let e = run(&mut s, &decoded(&m).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 11));
        remove(&mut s, &user(1), "c");
        let mut m = update(&user(1), "c");
        m.jail_epochs = Some(1);
        let e = run(&mut s, &decoded(&m).unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 13));
    }
}
