//! `/cosmos.bank.v1beta1.MsgSend`: move coins from the signer to another account.

use crate::{bank, fee_collector, AccountsError, Coins};
use ballast_framework::{sdk, Address, Event, MsgHandler, StateWrite, TxContext, TxError};
use prost::Message;

/// A validated transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgSend {
    /// Sender and signer.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// What moves.
    pub amount: Coins,
}

impl MsgHandler for MsgSend {
    const TYPE_URL: &'static str = "/cosmos.bank.v1beta1.MsgSend";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m = cosmrs::proto::cosmos::bank::v1beta1::MsgSend::decode(value)
            .map_err(|e| TxError::new(sdk::CODESPACE, sdk::TX_DECODE, format!("MsgSend: {e}")))?;
        let from = m
            .from_address
            .parse()
            .map_err(|source| AccountsError::InvalidAddress {
                field: "from_address",
                source,
            })?;
        let to = m
            .to_address
            .parse()
            .map_err(|source| AccountsError::InvalidAddress {
                field: "to_address",
                source,
            })?;
        let amount = Coins::from_proto(&m.amount)?;
        Ok(MsgSend { from, to, amount })
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        if self.amount.is_empty() {
            return Err(AccountsError::InvalidCoins("nothing to send".into()).into());
        }
        if self.to == fee_collector() {
            return Err(AccountsError::BlockedRecipient(self.to.to_string()).into());
        }
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.from]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        bank::send(state, &self.from, &self.to, &self.amount)?;
        state.emit_event(
            Event::new("message")
                .attr("action", Self::TYPE_URL)
                .attr("sender", self.from)
                .attr("module", "bank"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountsRead;
    use ballast_framework::{BlockContext, MemState};
    use cosmrs::proto::cosmos::bank::v1beta1::MsgSend as P;
    use cosmrs::proto::cosmos::base::v1beta1::Coin;

    fn raw(from: &str, to: &str, amount: &str) -> Vec<u8> {
        P {
            from_address: from.into(),
            to_address: to.into(),
            amount: vec![Coin {
                denom: "ubal".into(),
                amount: amount.into(),
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn decode_checks_every_field_with_stable_codes() {
        let a = Address([1; 20]).to_string();
        let b = Address([2; 20]).to_string();
        assert!(MsgSend::decode(&raw(&a, &b, "5")).is_ok());
        assert_eq!(
            MsgSend::decode(&[0xff, 0x01]).unwrap_err().code,
            sdk::TX_DECODE
        );
        assert_eq!(
            MsgSend::decode(&raw("nope", &b, "5")).unwrap_err().code,
            sdk::INVALID_ADDRESS
        );
        assert_eq!(
            MsgSend::decode(&raw(&a, &b, "0")).unwrap_err().code,
            sdk::INVALID_COINS
        );
        let overflow = "340282366920938463463374607431768211456";
        assert_eq!(
            MsgSend::decode(&raw(&a, &b, overflow)).unwrap_err().code,
            sdk::INVALID_COINS
        );
        let to_fc = MsgSend::decode(&raw(&a, &fee_collector().to_string(), "1")).unwrap();
        let e = to_fc.check_stateless().unwrap_err();
        assert_eq!((e.codespace, e.code), (crate::error::CODESPACE, 4));
    }

    #[test]
    fn execute_transfers_or_fails_with_insufficient_funds() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        let mut s = MemState::new();
        bank::mint(
            &mut s,
            &a,
            &Coins::from_proto(&[Coin {
                denom: "ubal".into(),
                amount: "10".into(),
            }])
            .unwrap(),
        )
        .unwrap();
        let block = BlockContext::default();
        let ctx = TxContext {
            block: &block,
            tx_hash: [0; 32],
            signers: &[a],
        };
        let m = MsgSend::decode(&raw(&a.to_string(), &b.to_string(), "7")).unwrap();
        m.execute(&mut s, &ctx).unwrap();
        assert_eq!(s.balance(&b, "ubal").unwrap(), 7);
        let e = m.execute(&mut s, &ctx).unwrap_err();
        assert_eq!(e.code, sdk::INSUFFICIENT_FUNDS);
    }
}
