//! `/ballast.restaking.v1.MsgRegisterOperator`: an account registers an operator under a BTC
//! key it proves it holds.

use super::{decode_proto, message_event};
use crate::operator::{self, OperatorRegistration};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;

/// A decoded registration (the proof of possession verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRegisterOperator(pub OperatorRegistration);

impl MsgHandler for MsgRegisterOperator {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgRegisterOperator";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m: pb::MsgRegisterOperator = decode_proto(value)?;
        Ok(MsgRegisterOperator(OperatorRegistration::from_proto(&m)?))
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` checked every field, the proof of possession included.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.0.owner]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        operator::register(state, &self.0, ctx.block.height)?;
        state.emit_event(message_event(Self::TYPE_URL, &self.0.owner));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::{sign_pop, OperatorId};
    use crate::power::PowerTableRead;
    use crate::testutil::*;
    use ballast_framework::MemState;
    use prost::Message;

    fn msg(i: u8, owner_addr: &Address) -> pb::MsgRegisterOperator {
        let sk = btc_sk(i);
        pb::MsgRegisterOperator {
            owner: owner_addr.to_string(),
            btc_pk: OperatorId::from_secret_key(&sk).to_bytes().to_vec(),
            btc_pop: sign_pop(&sk, owner_addr).to_vec(),
            consensus_pubkey: cons_pk(i).to_vec(),
            commission: "0.05".into(),
            description: Some(pb::Description {
                moniker: format!("op{i}"),
                ..Default::default()
            }),
        }
    }

    fn code(m: &pb::MsgRegisterOperator) -> (&'static str, u32) {
        let e = MsgRegisterOperator::decode(&m.encode_to_vec()).unwrap_err();
        (e.codespace, e.code)
    }

    #[test]
    fn registers_and_rejects_duplicates() {
        let mut s = MemState::new();
        init(&mut s);
        let m = msg(1, &owner(1));
        let d = MsgRegisterOperator::decode(&m.encode_to_vec()).unwrap();
        assert_eq!(d.signers(), vec![owner(1)]);
        run(&mut s, &d).unwrap();
        let id = OperatorId::from_secret_key(&btc_sk(1));
        let op = s.operator(&id).unwrap().unwrap();
        assert_eq!(op.owner, owner(1));
        assert_eq!(op.consensus_pubkey, Some(cons_pk(1)));
        assert_eq!(op.description.moniker, "op1");
        assert_eq!(op.registered_height, 7);
        let e = run(&mut s, &d).unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 10));
        // Another BTC key with the same consensus key.
        let mut other = msg(2, &owner(2));
        other.consensus_pubkey = cons_pk(1).to_vec();
        let e = run(
            &mut s,
            &MsgRegisterOperator::decode(&other.encode_to_vec()).unwrap(),
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 11));
    }

    #[test]
    fn bad_fields_are_rejected_with_their_codes() {
        let good = msg(1, &owner(1));
        // A pop signed for another owner, or by another key.
        let mut m = good.clone();
        m.owner = owner(2).to_string();
        assert_eq!(code(&m), ("restaking", 5));
        let mut m = good.clone();
        m.btc_pop = sign_pop(&btc_sk(9), &owner(1)).to_vec();
        assert_eq!(code(&m), ("restaking", 5));
        let mut m = good.clone();
        m.btc_pop.truncate(10);
        assert_eq!(code(&m), ("restaking", 5));
        let mut m = good.clone();
        m.btc_pk = vec![0xff; 32];
        assert_eq!(code(&m), ("restaking", 4));
        let mut m = good.clone();
        m.btc_pk = vec![1; 33];
        assert_eq!(code(&m), ("restaking", 4));
        let mut m = good.clone();
        m.consensus_pubkey = vec![1; 31];
        assert_eq!(code(&m), ("restaking", 6));
        let mut m = good.clone();
        m.commission = "1.5".into();
        assert_eq!(code(&m), ("restaking", 7));
        let mut m = good.clone();
        m.description = None;
        assert_eq!(code(&m), ("restaking", 8));
        let mut m = good.clone();
        m.owner = "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a".into();
        assert_eq!(code(&m), ("sdk", 7));
        let mut m = good.clone();
        m.owner = "not an address".into();
        assert_eq!(code(&m), ("sdk", 7));
        let e = MsgRegisterOperator::decode(&[0xff, 0xff]).unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 2));
        // Without a consensus key it is a valid, non-validating operator.
        let mut m = good;
        m.consensus_pubkey = Vec::new();
        assert_eq!(
            MsgRegisterOperator::decode(&m.encode_to_vec())
                .unwrap()
                .0
                .consensus_pubkey,
            None
        );
    }
}
