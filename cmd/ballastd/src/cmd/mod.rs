//! One module per subcommand.

pub mod btc;
pub mod btc_bitcoind;
pub mod btc_delegation;
pub mod btc_stake;
pub mod client;
pub mod dev;
pub mod genesis;
pub mod init;
pub mod keys;
pub mod query;
pub mod query_btclightclient;
pub mod query_checkpointing;
pub mod query_consumers;
pub mod query_restaking;
pub mod start;
pub mod testnet;
pub mod tx;
pub mod tx_btclightclient;
pub mod tx_consumers;
pub mod tx_restaking;
