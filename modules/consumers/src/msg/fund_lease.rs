//! `/ballast.consumers.v1.MsgFundLease`: any account adds ubal to a live consumer's lease.

use super::{decode_proto, message_event, parse_address};
use crate::consumer::{self, parse_amount, ConsumerId};
use crate::{lease, ConsumersError};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::consumers::v1 as pb;

/// A decoded funding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgFundLease {
    /// Who pays (signer).
    pub funder: Address,
    /// The consumer.
    pub consumer_id: ConsumerId,
    /// ubal, positive.
    pub amount: u128,
}

impl MsgFundLease {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: pb::MsgFundLease) -> Result<Self, ConsumersError> {
        Ok(MsgFundLease {
            funder: parse_address("funder", &m.funder)?,
            consumer_id: ConsumerId::parse(&m.consumer_id)?,
            amount: parse_amount("amount", &m.amount)?,
        })
    }
}

impl MsgHandler for MsgFundLease {
    const TYPE_URL: &'static str = "/ballast.consumers.v1.MsgFundLease";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(MsgFundLease::from_proto(decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.funder]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        let mut c = consumer::require(state, &self.consumer_id)?;
        c.require_live()?;
        lease::fund(state, &mut c, &self.funder, self.amount)?;
        consumer::save(state, &c)?;
        state.emit_event(message_event(Self::TYPE_URL, &self.funder));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{events, module_account};
    use ballast_accounts::AccountsRead;
    use ballast_framework::MemState;
    use prost::Message;

    fn msg(funder: &Address, id: &str, amount: &str) -> Result<MsgFundLease, TxError> {
        MsgFundLease::decode(
            &pb::MsgFundLease {
                funder: funder.to_string(),
                consumer_id: id.into(),
                amount: amount.into(),
            }
            .encode_to_vec(),
        )
    }

    #[test]
    fn anyone_funds_and_the_module_account_holds_the_lease() {
        let mut s = MemState::new();
        init(&mut s);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        fund(&mut s, &user(2), 100);
        run(&mut s, &msg(&user(2), "c", "60").unwrap()).unwrap();
        run(&mut s, &msg(&user(2), "c", "40").unwrap()).unwrap();
        assert_eq!(consumer::require(&s, &cid("c")).unwrap().lease_balance, 100);
        assert_eq!(s.balance(&module_account(), "ubal").unwrap(), 100);
        assert_eq!(s.balance(&user(2), "ubal").unwrap(), 0);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == events::LEASE_FUNDED && e.get("lease_balance") == Some("100")));
        // Short balance: the accounts module's code, nothing moves.
        let e = run(&mut s, &msg(&user(2), "c", "1").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 5));
        assert_eq!(consumer::require(&s, &cid("c")).unwrap().lease_balance, 100);
    }

    #[test]
    fn refusals_have_their_codes() {
        let mut s = MemState::new();
        init(&mut s);
        register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
        fund(&mut s, &user(1), 100);
        assert_eq!(msg(&user(1), "c", "0").unwrap_err().code, 9);
        assert_eq!(msg(&user(1), "c", "-1").unwrap_err().code, 9);
        assert_eq!(msg(&user(1), "c", "1.5").unwrap_err().code, 9);
        assert_eq!(msg(&user(1), "", "1").unwrap_err().code, 4);
        let e = run(&mut s, &msg(&user(1), "other", "1").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 11));
        remove(&mut s, &user(1), "c");
        let e = run(&mut s, &msg(&user(1), "c", "1").unwrap()).unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 13));
    }
}
