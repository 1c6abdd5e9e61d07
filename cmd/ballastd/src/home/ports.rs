//! Which port each listener of a node uses.
//!
//! Without a base port a home gets the usual ports: P2P 26656, RPC 26657, ABCI 26658, ballastd
//! metrics 26660, gRPC 9090 (CometBFT's Prometheus, off by default, 26661). With a base port
//! `B`, every listener sits in `B..B+7`, so nodes whose bases are [`PORTS_PER_NODE`] apart
//! never collide:
//!
//! | offset | listener |
//! |---|---|
//! | 0 | CometBFT P2P |
//! | 1 | CometBFT RPC |
//! | 2 | ballastd ABCI |
//! | 3 | CometBFT pprof (reserved; off unless `rpc.pprof_laddr` is set) |
//! | 4 | ballastd Prometheus metrics |
//! | 5 | CometBFT Prometheus (reserved; off unless `instrumentation.prometheus`) |
//! | 6 | ballastd gRPC |

use anyhow::Context;

/// Distance between the base ports of two nodes of a testnet.
pub const PORTS_PER_NODE: u16 = 10;
/// The default base port (CometBFT's P2P port).
pub const DEFAULT_BASE_PORT: u16 = 26656;

/// The ports of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// CometBFT P2P.
    pub p2p: u16,
    /// CometBFT RPC.
    pub rpc: u16,
    /// ballastd ABCI.
    pub abci: u16,
    /// CometBFT pprof (reserved).
    pub pprof: u16,
    /// ballastd metrics.
    pub metrics: u16,
    /// CometBFT Prometheus.
    pub prometheus: u16,
    /// ballastd gRPC.
    pub grpc: u16,
}

impl Ports {
    /// The usual single-node ports.
    pub fn defaults() -> Ports {
        Ports {
            p2p: 26656,
            rpc: 26657,
            abci: 26658,
            pprof: 26659,
            metrics: 26660,
            prometheus: 26661,
            grpc: 9090,
        }
    }

    /// Every listener in `base..base+7` (see the module docs).
    pub fn from_base(base: u16) -> anyhow::Result<Ports> {
        let at = |offset: u16| {
            base.checked_add(offset)
                .with_context(|| format!("base port {base} + {offset} is beyond 65535"))
        };
        if base == 0 {
            anyhow::bail!("expected a base port above 0, found 0");
        }
        Ok(Ports {
            p2p: at(0)?,
            rpc: at(1)?,
            abci: at(2)?,
            pprof: at(3)?,
            metrics: at(4)?,
            prometheus: at(5)?,
            grpc: at(6)?,
        })
    }

    /// The ports of node `index` of a testnet whose node 0 has base `base`.
    pub fn for_node(base: u16, index: u16) -> anyhow::Result<Ports> {
        let node_base = index
            .checked_mul(PORTS_PER_NODE)
            .and_then(|o| base.checked_add(o))
            .with_context(|| {
                format!("node {index}'s ports from base port {base} are beyond 65535")
            })?;
        Ports::from_base(node_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every port with its listener's name.
    fn all(p: &Ports) -> [(&'static str, u16); 7] {
        [
            ("p2p", p.p2p),
            ("rpc", p.rpc),
            ("abci", p.abci),
            ("pprof", p.pprof),
            ("metrics", p.metrics),
            ("prometheus", p.prometheus),
            ("grpc", p.grpc),
        ]
    }

    #[test]
    fn nodes_of_a_testnet_never_share_a_port() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..20 {
            for (_, p) in all(&Ports::for_node(DEFAULT_BASE_PORT, i).expect("fits")) {
                assert!(seen.insert(p), "port {p} used twice");
            }
        }
        assert!(Ports::for_node(65530, 1).is_err());
        assert!(Ports::from_base(65533).is_err());
        assert!(Ports::from_base(0).is_err());
        let mut d: Vec<u16> = all(&Ports::defaults()).iter().map(|(_, p)| *p).collect();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 7);
    }
}
