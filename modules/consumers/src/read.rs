//! Reads of the consumers state that other crates use: the app's `ballast.consumer.v1.Consumer`
//! gRPC service (replay of stored updates, sets at a height, commitments to prove) and other
//! modules. Each read is a point lookup or a bounded prefix walk; none writes.

use crate::state_key;
use ballast_framework::{StateError, StateRead, StateReadExt};
use ballast_proto::ballast::consumers::v1 as pb;

/// A consumer, if registered.
pub fn consumer<S: StateRead + ?Sized>(
    state: &S,
    consumer_id: &str,
) -> Result<Option<pb::Consumer>, StateError> {
    state.get_proto(state_key::consumer(consumer_id).as_bytes())
}

/// The module's params, if genesis wrote them.
pub fn params<S: StateRead + ?Sized>(state: &S) -> Result<Option<pb::Params>, StateError> {
    state.get_proto(state_key::params().as_bytes())
}

/// A consumer's full validator set after its last update (absent before the first).
pub fn validator_set<S: StateRead + ?Sized>(
    state: &S,
    consumer_id: &str,
) -> Result<Option<pb::ConsumerValidatorSet>, StateError> {
    state.get_proto(state_key::validator_set(consumer_id).as_bytes())
}

/// A consumer's set commitment (absent before the first update).
pub fn set_commitment<S: StateRead + ?Sized>(
    state: &S,
    consumer_id: &str,
) -> Result<Option<pb::SetCommitment>, StateError> {
    state.get_proto(state_key::set_hash(consumer_id).as_bytes())
}

/// One stored update.
pub fn update<S: StateRead + ?Sized>(
    state: &S,
    consumer_id: &str,
    update_id: u64,
) -> Result<Option<pb::ValidatorSetUpdate>, StateError> {
    state.get_proto(state_key::update(consumer_id, update_id).as_bytes())
}

/// Up to `limit` stored updates with an id above `after`, ascending: point lookups from
/// `after + 1` to the consumer's last update id, so the cost is the page, not the history.
pub fn updates_after<S: StateRead + ?Sized>(
    state: &S,
    consumer_id: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<pb::ValidatorSetUpdate>, StateError> {
    let Some(c) = consumer(state, consumer_id)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut id = after;
    while out.len() < limit && id < c.last_update_id {
        id = id.saturating_add(1);
        match update(state, consumer_id, id)? {
            Some(u) => out.push(u),
            None => {
                return Err(StateError::Backend(format!(
                "consumer {consumer_id:?} has no stored update {id} below its last update id {}",
                c.last_update_id
            )))
            }
        }
    }
    Ok(out)
}

/// Reads of the consumers state for other modules (a slashing module, the app), for every
/// state. Other modules read consumers through this and never through raw keys.
pub trait ConsumersRead: StateRead {
    /// A consumer's record.
    fn consumer_record(
        &self,
        id: &crate::ConsumerId,
    ) -> Result<Option<crate::Consumer>, crate::ConsumersError> {
        crate::consumer::load(self, id)
    }

    /// An operator's opt-in to a consumer.
    fn consumer_opt_in(
        &self,
        id: &crate::ConsumerId,
        operator: &ballast_restaking::OperatorId,
    ) -> Result<Option<crate::OptIn>, crate::ConsumersError> {
        crate::opt_in::load(self, id, operator)
    }

    /// The allocation (basis points of the operator's power) a double sign by `operator` on
    /// `consumer` during `epoch` may slash: the allocation in force and any reduced or withdrawn
    /// allocation whose deallocation window still covers `epoch` (0 when it never opted in).
    fn slashable_allocation(
        &self,
        operator: &ballast_restaking::OperatorId,
        consumer: &crate::ConsumerId,
        epoch: u64,
    ) -> Result<u32, crate::ConsumersError> {
        Ok(crate::opt_in::load(self, consumer, operator)?
            .map(|o| o.slashable_allocation(epoch))
            .unwrap_or(0))
    }

    /// The (consumer, operator) a consumer key belongs to (keys are never reused, so the
    /// answer holds for any past use of the key).
    fn consumer_key_owner(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<(crate::ConsumerId, ballast_restaking::OperatorId)>, crate::ConsumersError>
    {
        crate::opt_in::key_user(self, &crate::ConsumerKey::from_stored(key)?)
    }

    /// A consumer's current validator set, in CometBFT order (empty before its first update).
    fn consumer_validators(
        &self,
        id: &crate::ConsumerId,
    ) -> Result<Vec<crate::ConsumerValidator>, crate::ConsumersError> {
        crate::valset::load_set(self, id)
    }
}

impl<T: StateRead + ?Sized> ConsumersRead for T {}
