//! Epoch-end processing over the real restaking state: set changes, statuses, lease payments,
//! caps, the per-block bound, and properties over random message sequences.
