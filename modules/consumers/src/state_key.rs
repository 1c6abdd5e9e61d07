//! Every key the consumers state machine writes. Keys are API: they change only through a
//! migration, and `set_hash` is what consumer chains prove against the hub's app hash.
//! Numbers are zero-padded to 20 digits so that lexical order is numeric order; operator ids
//! and keys are lower-case hex of fixed length. Consumer ids are chain ids: 1 to 50 characters
//! of `[a-zA-Z0-9._-]`, none of which is `/`, so no id is a prefix path of another's keys.

/// Prefix of every key of this module.
pub const PREFIX: &str = "consumers/";

/// The module's params (`Params`).
pub fn params() -> &'static str {
    "consumers/params"
}

/// The epoch-end run in progress (`EpochRun`), absent when none is.
pub fn epoch_run() -> &'static str {
    "consumers/epoch_run"
}

/// Height of the block in which the last epoch-end run finished (8 bytes, big-endian): an
/// end-epoch in that block records its run and leaves the processing to the next block, so
/// that no consumer is processed twice in one block.
pub fn run_finished_height() -> &'static str {
    "consumers/run_finished_height"
}

/// A consumer (`Consumer`).
pub fn consumer(consumer_id: &str) -> String {
    format!("consumers/consumer/{consumer_id}")
}

/// Prefix of every consumer record, in id order.
pub fn consumers_prefix() -> &'static str {
    "consumers/consumer/"
}

/// Index of the consumers the epoch-end run walks (value `INDEX_MARKER`), in id order: the
/// ACTIVE ones and the REGISTERED ones whose lease covers `fee_per_epoch`.
pub fn live(consumer_id: &str) -> String {
    format!("consumers/live/{consumer_id}")
}

/// Prefix of the live index.
pub fn live_prefix() -> &'static str {
    "consumers/live/"
}

/// An operator's opt-in to a consumer (`OptIn`).
pub fn opt_in(consumer_id: &str, operator: &[u8; 32]) -> String {
    format!("consumers/opt_in/{consumer_id}/{}", hex::encode(operator))
}

/// Prefix of a consumer's opt-ins, in operator order.
pub fn opt_ins_prefix(consumer_id: &str) -> String {
    format!("consumers/opt_in/{consumer_id}/")
}

/// Index of an operator's opt-ins (value empty), in consumer id order.
pub fn opt_in_by_operator(operator: &[u8; 32], consumer_id: &str) -> String {
    format!(
        "consumers/opt_in_by_operator/{}/{consumer_id}",
        hex::encode(operator)
    )
}

/// Prefix of an operator's opt-in index.
pub fn opt_in_by_operator_prefix(operator: &[u8; 32]) -> String {
    format!("consumers/opt_in_by_operator/{}/", hex::encode(operator))
}

/// The (consumer id, operator) a consumer key was first registered for: value
/// `<consumer_id>/<operator hex>`. Never deleted, so a key is never reused elsewhere.
pub fn consumer_key(pubkey: &[u8; 32]) -> String {
    format!("consumers/consumer_key/{}", hex::encode(pubkey))
}

/// A consumer's full validator set (`ConsumerValidatorSet`), after its last update.
pub fn validator_set(consumer_id: &str) -> String {
    format!("consumers/set/{consumer_id}")
}

/// A consumer's set commitment (`SetCommitment`): the key a consumer chain proves with ICS-23.
pub fn set_hash(consumer_id: &str) -> String {
    format!("consumers/set_hash/{consumer_id}")
}

/// One stored update (`ValidatorSetUpdate`). Every update is kept, so a subscriber can resume
/// from any update id.
pub fn update(consumer_id: &str, update_id: u64) -> String {
    format!("consumers/update/{consumer_id}/{update_id:020}")
}

/// Prefix of a consumer's updates, in update id order.
pub fn updates_prefix(consumer_id: &str) -> String {
    format!("consumers/update/{consumer_id}/")
}
