//! placeholder

pub mod storage;
