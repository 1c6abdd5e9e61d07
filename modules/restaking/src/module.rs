//! [`RestakingModule`]: the hooks and message routing the app drives.
//!
//! - end-block: pays matured native unbondings (bounded per block), then the BTC-delegation
//!   end-block.
//! - end-epoch (`epoch` must be the current epoch): the BTC-delegation end-epoch, the power
//!   snapshot, the distribution of the epoch's fees, and the new hub validator set with its
//!   pending updates ([`crate::take_validator_updates`]).

use crate::msg::{
    MsgBondNative, MsgEditOperator, MsgRegisterOperator, MsgUnbondNative, MsgWithdrawRewards,
};
use crate::rewards::RewardDistribution;
use crate::valset::ValidatorUpdate;
use crate::{
    delegation, native, power, query, rewards, valset, GenesisState, RestakingError, MODULE_NAME,
};
use ballast_framework::{
    decode_any, BlockContext, GenesisError, Module, Msg, StateRead, StateWrite, TxError,
};

/// The restaking module.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestakingModule;

/// What an epoch's end did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// The epoch that ended.
    pub epoch: u64,
    /// Total power of its snapshot.
    pub total_power: u64,
    /// The reward distribution.
    pub rewards: RewardDistribution,
    /// The hub set's changes (also stored as pending updates).
    pub validator_updates: Vec<ValidatorUpdate>,
}

/// Ends `epoch` (it must be the current epoch): snapshot, rewards, hub set.
pub fn end_epoch(
    state: &mut dyn StateWrite,
    ctx: &BlockContext,
    epoch: u64,
) -> Result<EpochEnd, TxError> {
    let expected = power::current_epoch(state)?;
    if epoch != expected {
        return Err(RestakingError::EpochMismatch {
            expected,
            found: epoch,
        }
        .into());
    }
    delegation::end_epoch(state, ctx, epoch)?;
    let snapshot = power::snapshot_power(state, epoch)?;
    let rewards = rewards::distribute(state, &snapshot)?;
    let validator_updates = valset::update_set(state, epoch)?;
    power::set_epoch_ended(state, epoch)?;
    Ok(EpochEnd {
        epoch,
        total_power: snapshot.total_power,
        rewards,
        validator_updates,
    })
}

impl Module for RestakingModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the restaking genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v).map_err(|e| GenesisError::new(MODULE_NAME, e))?,
            None => GenesisState::default(),
        };
        gs.apply(state, ctx.height)
            .map_err(|e| GenesisError::new(MODULE_NAME, crate::error::with_sources(&e)))
    }

    fn end_block(&self, state: &mut dyn StateWrite, ctx: &BlockContext) -> Result<(), TxError> {
        native::complete_matured(state)?;
        delegation::end_block(state, ctx)
    }

    fn end_epoch(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        epoch: u64,
    ) -> Result<(), TxError> {
        end_epoch(state, ctx, epoch).map(|_| ())
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        decode_any::<MsgRegisterOperator>(any)
            .or_else(|| decode_any::<MsgEditOperator>(any))
            .or_else(|| decode_any::<MsgBondNative>(any))
            .or_else(|| decode_any::<MsgUnbondNative>(any))
            .or_else(|| decode_any::<MsgWithdrawRewards>(any))
            // BTC delegations: their messages are decoded by the delegation module.
            .or_else(|| delegation::decode_msg(any))
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        query::route(state, path, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerTableRead;
    use crate::testutil::*;
    use crate::{genesis_operator, module_account, BOND_DENOM};
    use ballast_accounts::{fee_collector, AccountsRead};
    use ballast_framework::{MemState, MsgHandler};
    use ballast_proto::ballast::restaking::v1 as pb;
    use prost::Message;

    fn any<M: Message>(type_url: &str, m: &M) -> prost_types::Any {
        prost_types::Any {
            type_url: type_url.into(),
            value: m.encode_to_vec(),
        }
    }

    #[test]
    fn routes_its_messages_and_leaves_others() {
        let m = RestakingModule;
        let bond = pb::MsgBondNative {
            delegator: owner(1).to_string(),
            operator_btc_pk: vec![1; 32],
            amount: "5".into(),
        };
        let decoded = m
            .decode_msg(&any(MsgBondNative::TYPE_URL, &bond))
            .unwrap()
            .unwrap();
        assert_eq!(decoded.type_url(), MsgBondNative::TYPE_URL);
        assert_eq!(decoded.signers(), vec![owner(1)]);
        for url in [
            MsgRegisterOperator::TYPE_URL,
            MsgEditOperator::TYPE_URL,
            MsgUnbondNative::TYPE_URL,
            MsgWithdrawRewards::TYPE_URL,
        ] {
            // Empty bodies decode to empty fields, which the field checks refuse.
            let r = m.decode_msg(&prost_types::Any {
                type_url: url.into(),
                value: Vec::new(),
            });
            assert!(matches!(r, Some(Err(_))), "{url}");
        }
        assert!(m
            .decode_msg(&any("/cosmos.bank.v1beta1.MsgSend", &bond))
            .is_none());
        assert_eq!(m.name(), "restaking");
        assert!(m.default_genesis()["params"].is_object());
    }

    #[test]
    fn an_epoch_end_snapshots_rewards_and_returns_the_set_changes() {
        let mut s = MemState::new();
        ballast_accounts::GenesisState::default()
            .apply(&mut s)
            .unwrap();
        fund(&mut s, &owner(1), 100_000_000);
        fund(&mut s, &owner(2), 50_000_000);
        let gs = GenesisState {
            params: crate::Params::default(),
            operators: vec![
                genesis_operator(&owner(1), &btc_sk(1), cons_pk(1), 100_000_000, "a"),
                genesis_operator(&owner(2), &btc_sk(2), cons_pk(2), 0, "b"),
            ],
        };
        let ctx = BlockContext {
            height: 1,
            ..BlockContext::default()
        };
        let m = RestakingModule;
        m.init_genesis(&mut s, &ctx, Some(&serde_json::to_value(&gs).unwrap()))
            .unwrap();
        assert_eq!(s.hub_validators().unwrap().len(), 1);
        let b = crate::OperatorId::from_secret_key(&btc_sk(2));
        native::bond(&mut s, &owner(2), &b, 50_000_000).unwrap();
        fund(&mut s, &fee_collector(), 1_500);

        let e = m.end_epoch(&mut s, &ctx, 2).unwrap_err();
        assert!(e.fatal, "{e:?}");
        let end = end_epoch(&mut s, &ctx, 1).unwrap();
        assert_eq!(end.total_power, 150);
        assert_eq!(end.rewards.distributed, 1_500);
        assert_eq!(
            end.validator_updates,
            vec![ValidatorUpdate {
                pubkey: cons_pk(2),
                power: 50
            }]
        );
        assert_eq!(
            crate::take_validator_updates(&mut s).unwrap(),
            end.validator_updates
        );
        assert_eq!(s.current_epoch().unwrap(), 2);
        assert_eq!(s.balance(&fee_collector(), BOND_DENOM).unwrap(), 0);
        assert_eq!(
            s.balance(&module_account(), BOND_DENOM).unwrap(),
            150_001_500
        );
        // Epoch 2 ends with nothing changed: no updates.
        m.end_epoch(&mut s, &ctx, 2).unwrap();
        assert!(crate::take_validator_updates(&mut s).unwrap().is_empty());
    }

    #[test]
    fn end_block_pays_matured_unbondings() {
        let mut s = MemState::new();
        init_with(
            &mut s,
            crate::Params {
                native_unbonding_epochs: 1,
                ..crate::Params::default()
            },
        );
        let op = register_op(&mut s, 1, None);
        fund(&mut s, &owner(1), 3_000_000);
        native::bond(&mut s, &owner(1), &op, 3_000_000).unwrap();
        native::unbond(&mut s, &owner(1), &op, 3_000_000).unwrap();
        let ctx = BlockContext::default();
        let m = RestakingModule;
        m.end_block(&mut s, &ctx).unwrap();
        assert_eq!(s.balance(&owner(1), BOND_DENOM).unwrap(), 0);
        m.end_epoch(&mut s, &ctx, 1).unwrap();
        m.end_block(&mut s, &ctx).unwrap();
        assert_eq!(s.balance(&owner(1), BOND_DENOM).unwrap(), 3_000_000);
    }
}
