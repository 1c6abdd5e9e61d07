//! Generated protobuf and gRPC types for Ballast.
//!
//! Every Ballast module has its wire types under `ballast.<module>.v1`. These types only parse the
//! wire: validation happens once, in each module's `TryFrom<proto> for Domain`.

#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

// `ballast.<module>.v1` packages, and the `cosmos.*` wire types Ballast serves over gRPC.
include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// Encoded `FileDescriptorSet` of every package above, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ballast_descriptor.bin"));

pub use prost;
pub use prost_types;
