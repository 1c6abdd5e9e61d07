//! Bitcoin light client module (being built).
