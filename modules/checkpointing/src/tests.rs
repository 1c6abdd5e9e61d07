//! Unit tests of the whole module.
