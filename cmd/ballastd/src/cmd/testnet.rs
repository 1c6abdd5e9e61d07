//! `ballastd testnet generate`: N complete node homes for a local multi-validator network.
//!
//! `<output-dir>/node<i>/` is a home as `ballastd init` writes it, and:
//! - every home has the same `genesis.json`: all N validators, each one's BLS key in
//!   `app_state.checkpointing.bls_keys`, one funded account per node, and each node a restaking
//!   operator (`app_state.restaking.operators`) owned by that account with a genesis self-bond
//!   (`--self-bond`, 100 BAL: power 100 at the default weight), which is its validator power;
//! - every home has its own BLS key in `config/bls_key.json` and operator BTC key in
//!   `config/operator_btc_key.json` (0600);
//! - `<output-dir>/covenant-<i>/covenant_key.json` holds the key of covenant member i
//!   (`--covenants`, 3), and genesis names the committee with quorum `--covenant-quorum` (2);
//! - that account's key is in the home's keyring (name `node<i>`), and its mnemonic in
//!   `<home>/key_seed.json` as `{"secret": "<mnemonic>", "address": "ballast1..."}` (0600);
//! - `persistent_peers` lists every other node as `<node id>@<ip>:<p2p port>`;
//! - every listener (ABCI, gRPC, metrics, CometBFT RPC, P2P, and CometBFT's Prometheus and
//!   pprof when enabled) has its own port: node i uses `base-port + 10 i` onwards (see
//!   `home::ports`);
//! - `addr_book_strict = false` and `allow_duplicate_ip = true`, so peers on one IP connect.

use crate::cmd::genesis::{add_account_to, parse_coins};
use crate::home::genesis::{GenesisDoc, GenesisValidator};
use crate::home::keys::NodeKeys;
use crate::home::ports::{Ports, DEFAULT_BASE_PORT};
use crate::home::{self, Listeners, NodeHome};
use crate::Global;
use anyhow::Context;
use ballast_client::keyring::{input, Backend, Keyring};
use ballast_framework::Address;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The most validators `generate` writes (every node peers with every other).
pub const MAX_VALIDATORS: u16 = 100;

/// `ballastd testnet` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Write N validator homes sharing one genesis, wired to each other.
    Generate(GenerateArgs),
}

/// `ballastd testnet generate` options.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Number of validators (and homes).
    #[arg(long, default_value_t = 4)]
    pub validators: u16,
    /// Directory receiving node0, node1, ...
    #[arg(long)]
    pub output_dir: PathBuf,
    /// The chain id.
    #[arg(long, default_value = "ballast-testnet-1")]
    pub chain_id: String,
    /// IP every node listens on (with --ip-per-node: node 0's IP; node i gets the i-th next).
    #[arg(long, default_value = "127.0.0.1")]
    pub starting_ip: Ipv4Addr,
    /// Give node i the IP starting-ip + i (for containers) instead of one shared IP.
    #[arg(long)]
    pub ip_per_node: bool,
    /// Node 0's first port; node i's ports start at base-port + 10 i.
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
    /// Keyring backend for the funded keys: test or file.
    #[arg(long, default_value = "test")]
    pub keyring_backend: String,
    /// Opening balance of each node's account.
    #[arg(long, default_value = "1000000000000ubal")]
    pub account_coins: String,
    /// CometBFT's consensus.timeout_commit (time between blocks), a Go duration like 1s or 500ms.
    #[arg(long, default_value = "1s")]
    pub timeout_commit: String,
    /// CometBFT's consensus.timeout_propose, a Go duration like 3s.
    #[arg(long, default_value = "3s")]
    pub timeout_propose: String,
    /// ubal each node's account bonds to its own operator at genesis (its validator power).
    #[arg(long, default_value_t = DEFAULT_SELF_BOND)]
    pub self_bond: u128,
    /// Members of the BTC staking covenant committee; each gets a key in covenant-<i>/.
    #[arg(long, default_value_t = 3)]
    pub covenants: u32,
    /// Covenant signatures a BTC delegation needs.
    #[arg(long, default_value_t = 2)]
    pub covenant_quorum: u32,
}

/// The genesis self-bond of each validator's operator: 100 BAL.
pub const DEFAULT_SELF_BOND: u128 = 100_000_000;

/// `<dir>/covenant_key.json`, a covenant member's BTC key.
pub fn covenant_key_path(dir: &Path) -> PathBuf {
    dir.join("covenant_key.json")
}

pub fn run(c: Cmd, _g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::Generate(a) => generate(a),
    }
}

/// One node being generated.
struct Node {
    dir: PathBuf,
    moniker: String,
    ip: Ipv4Addr,
    ports: Ports,
    home: NodeHome,
    account: Address,
    mnemonic: String,
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    if args.validators == 0 || args.validators > MAX_VALIDATORS {
        anyhow::bail!(
            "--validators: expected 1 to {MAX_VALIDATORS}, found {}",
            args.validators
        );
    }
    home::genesis::validate_chain_id(&args.chain_id)?;
    let coins = parse_coins(&args.account_coins).context("--account-coins")?;
    check_go_duration("--timeout-commit", &args.timeout_commit)?;
    check_go_duration("--timeout-propose", &args.timeout_propose)?;
    let backend: Backend = args.keyring_backend.parse()?;
    let passphrase = match backend {
        Backend::Test => None,
        Backend::File => Some(input::keyring_passphrase(true)?),
    };

    if args.covenants == 0 || args.covenant_quorum == 0 || args.covenant_quorum > args.covenants {
        anyhow::bail!(
            "--covenant-quorum: expected 1 to --covenants ({}), found {}",
            args.covenants,
            args.covenant_quorum
        );
    }

    // Check every target before writing anything.
    let dirs: Vec<PathBuf> = (0..args.validators)
        .map(|i| args.output_dir.join(format!("node{i}")))
        .collect();
    let covenant_dirs: Vec<PathBuf> = (0..args.covenants)
        .map(|i| args.output_dir.join(format!("covenant-{i}")))
        .collect();
    for d in dirs.iter().chain(&covenant_dirs) {
        if d.exists()
            && std::fs::read_dir(d)
                .map(|mut r| r.next().is_some())
                .unwrap_or(true)
        {
            anyhow::bail!(
                "{} already exists and is not empty: remove it or choose another --output-dir",
                d.display()
            );
        }
    }

    // Every node's addresses, also before writing anything.
    let mut planned = Vec::with_capacity(dirs.len());
    for (i, dir) in dirs.into_iter().enumerate() {
        let index = u16::try_from(i).expect("at most MAX_VALIDATORS nodes");
        let ip = node_ip(args.starting_ip, index, args.ip_per_node)?;
        let ports = Ports::for_node(args.base_port, index)?;
        let moniker = format!("node{i}");
        let ip_s = ip.to_string();
        let listeners = Listeners::on(&ip_s, &ip_s, &ports);
        let mut node_home =
            NodeHome::new(&args.chain_id, &moniker, &listeners, NodeKeys::generate()?)?;
        node_home.cometbft.addr_book_strict = false;
        node_home.cometbft.allow_duplicate_ip = true;
        node_home.cometbft.timeout_commit = args.timeout_commit.clone();
        node_home.cometbft.timeout_propose = args.timeout_propose.clone();
        planned.push((dir, moniker, ip, ports, node_home));
    }

    let mut nodes = Vec::with_capacity(planned.len());
    for (dir, moniker, ip, ports, home) in planned {
        home::create_private_dir(&dir)?;
        let keyring = Keyring::open(&dir, backend, passphrase.clone())?;
        let (info, mnemonic) = keyring
            .add(&moniker)
            .with_context(|| format!("creating {moniker}'s key in {}", dir.display()))?;
        let account = info
            .address
            .parse::<Address>()
            .with_context(|| format!("the keyring's address {:?} does not parse", info.address))?;
        nodes.push(Node {
            dir,
            moniker,
            ip,
            ports,
            home,
            account,
            mnemonic,
        });
    }

    let peers: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}@{}:{}", n.home.keys.node.node_id(), n.ip, n.ports.p2p))
        .collect();
    for (i, n) in nodes.iter_mut().enumerate() {
        n.home.cometbft.persistent_peers = peers
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.clone())
            .collect();
    }

    let validators = nodes
        .iter()
        .map(|n| GenesisValidator::new(&n.home.keys.consensus, &n.moniker))
        .collect();
    let mut genesis = GenesisDoc::new(
        &args.chain_id,
        validators,
        ballast_app::genesis::default_app_state(),
    );
    for n in &nodes {
        add_account_to(&mut genesis, &n.account, &coins, false)?;
        genesis.set_bls_key(n.home.keys.genesis_bls_key())?;
        genesis.add_operator(
            &n.account,
            &n.home.keys.operator_btc,
            &n.home.keys.consensus,
            args.self_bond,
            &n.moniker,
        )?;
    }
    let covenant_keys: Vec<_> = covenant_dirs
        .iter()
        .map(|_| ballast_client::btc_key::new_btc_key())
        .collect();
    let covenant_pks: Vec<_> = covenant_keys
        .iter()
        .map(ballast_client::btc_key::xonly)
        .collect();
    genesis.set_covenant_committee(&covenant_pks, args.covenant_quorum)?;

    for n in &nodes {
        n.home.write(&n.dir, &genesis)?;
        write_key_seed(&n.dir, &n.mnemonic, &n.account)?;
    }
    for (dir, key) in covenant_dirs.iter().zip(&covenant_keys) {
        home::create_private_dir(dir)?;
        ballast_client::btc_key::write_btc_key(&covenant_key_path(dir), key)?;
    }

    println!(
        "wrote {} validator homes for chain {} under {}",
        nodes.len(),
        args.chain_id,
        args.output_dir.display()
    );
    for n in &nodes {
        println!(
            "{}  node_id {}  rpc {}  p2p {}  abci {}  account {}",
            n.moniker,
            n.home.keys.node.node_id(),
            n.home.cometbft.rpc_laddr,
            n.home.cometbft.p2p_laddr,
            n.home.node.abci.address,
            n.account
        );
    }
    for (dir, pk) in covenant_dirs.iter().zip(&covenant_pks) {
        println!("covenant {}  {}", dir.display(), pk);
    }
    Ok(())
}

/// `<home>/key_seed.json`: `{"secret": "<mnemonic>", "address": "ballast1..."}`, 0600.
fn write_key_seed(dir: &Path, mnemonic: &str, address: &Address) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct KeySeed<'a> {
        secret: &'a str,
        address: String,
    }
    let seed = KeySeed {
        secret: mnemonic,
        address: address.to_string(),
    };
    let text = serde_json::to_string_pretty(&seed).expect("plain strings always serialise");
    home::write_private_file(&dir.join("key_seed.json"), &text)
}

/// Node `index`'s IP.
fn node_ip(start: Ipv4Addr, index: u16, per_node: bool) -> anyhow::Result<Ipv4Addr> {
    if !per_node {
        return Ok(start);
    }
    u32::from(start)
        .checked_add(u32::from(index))
        .map(Ipv4Addr::from)
        .with_context(|| format!("starting IP {start} + {index} is beyond 255.255.255.255"))
}

/// Checks a Go duration as CometBFT's config takes it and tendermint-rs parses it: an
/// integer followed by `ms` or `s`.
fn check_go_duration(flag: &str, s: &str) -> anyhow::Result<()> {
    let digits = s
        .strip_suffix("ms")
        .or_else(|| s.strip_suffix('s'))
        .unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("{flag}: expected a duration such as 1s or 500ms, found {s:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ips_are_checked() {
        for ok in ["1s", "500ms", "0s"] {
            check_go_duration("x", ok).expect(ok);
        }
        for bad in ["", "s", "1", "1m", "1.5s", "-1s", "ms"] {
            assert!(check_go_duration("x", bad).is_err(), "{bad:?}");
        }
        let ip: Ipv4Addr = "10.0.0.254".parse().expect("ip");
        assert_eq!(node_ip(ip, 3, false).expect("same"), ip);
        assert_eq!(node_ip(ip, 3, true).expect("next").to_string(), "10.0.1.1");
        assert!(node_ip(Ipv4Addr::BROADCAST, 1, true).is_err());
    }
}
