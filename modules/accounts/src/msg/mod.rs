//! Messages of the accounts module, one file each.

pub mod send;
