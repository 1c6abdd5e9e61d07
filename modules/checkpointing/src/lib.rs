//! Checkpointing module (being built).
