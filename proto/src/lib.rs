//! Generated protobuf and gRPC types for Ballast.
//!
//! Every Ballast module has its wire types under `ballast.<module>.v1`. These types only parse the
//! wire: validation happens once, in each module's `TryFrom<proto> for Domain`.

#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

/// `ballast.*` packages.
pub mod ballast {
    pub mod accounts {
        pub mod v1 {
            tonic::include_proto!("ballast.accounts.v1");
        }
    }
    pub mod app {
        pub mod v1 {
            tonic::include_proto!("ballast.app.v1");
        }
    }
}

pub use prost;
pub use prost_types;
