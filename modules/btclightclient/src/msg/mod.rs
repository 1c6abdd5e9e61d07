//! Messages of the Bitcoin light client, one file each.

pub mod insert_headers;
