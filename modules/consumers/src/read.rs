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
