//! The command line: `init`, `register`, `fund`, `status` and `run`.
//!
//! Every command reads the config file named by `--config` (default `consumer.toml`); `init`
//! writes it. Exit codes: 0 success (and `run` stopped by SIGINT/SIGTERM or because the
//! consumer is STOPPED), 1 any error, 2 `run` refused an update that failed verification.

use crate::config::{Config, LogFormat};
use crate::follow::{FollowOptions, Follower, Tamper};
use crate::hub;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of `run` when an update failed verification.
pub const EXIT_REFUSED: u8 = 2;

/// Demo Ballast consumer: registers and funds a consumer, then follows its validator set and
/// verifies every update against the hub's light-client-verified app hash.
#[derive(Parser, Debug)]
#[command(name = "ballast-consumer", version)]
pub struct Cli {
    /// The config file (`init` writes it; every other command reads it).
    #[arg(long, global = true, default_value = "consumer.toml")]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a config file (every field commented).
    Init(Box<InitArgs>),
    /// Register the consumer (MsgRegisterConsumer), signed by the configured key, which
    /// becomes its owner. Terms come from the config's [terms], overridden by flags.
    Register(Box<RegisterArgs>),
    /// Add ubal to the consumer's lease (MsgFundLease), paid by the configured key.
    Fund {
        /// ubal to add, e.g. `1000000` or `1000000ubal`.
        #[arg(long)]
        amount: String,
    },
    /// Print the consumer as the hub sees it and the verified set kept locally, as JSON.
    Status,
    /// Follow the validator set: verify, keep and print every update, until SIGINT/SIGTERM or
    /// the consumer stops.
    Run {
        /// Corrupt every update before verifying it (shows that verification catches it).
        #[arg(long, value_enum, hide = true)]
        tamper: Option<Tamper>,
        /// When an update's hub height is pruned on the hub, jump to the current set (proven
        /// at the latest height) instead of stopping with an error.
        #[arg(long)]
        resync_if_pruned: bool,
        /// With no trusted header configured (light_client.trusted_height/trusted_hash), trust
        /// the first header the hub serves (as light_client.trust_on_first_use = true does).
        /// Without a trusted header and without this, `run` refuses to start.
        #[arg(long)]
        trust_on_first_use: bool,
    },
}

/// `init` flags.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The consumer id: the consumer chain's chain id.
    #[arg(long)]
    pub consumer_id: String,
    /// The hub's gRPC address (`host:port`, `http://…` or `https://…`).
    #[arg(long)]
    pub hub_grpc: Option<String>,
    /// The hub's CometBFT RPC address (`tcp://host:port` or `http://host:port`).
    #[arg(long)]
    pub hub_rpc: Option<String>,
    /// The hub's chain id (default: the one its RPC reports).
    #[arg(long)]
    pub chain_id: Option<String>,
    /// Where the verified set and the light client's state are kept (default: consumer-data
    /// next to the config file).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Home directory holding the keyring.
    #[arg(long)]
    pub keyring_dir: Option<PathBuf>,
    /// `test` or `file`.
    #[arg(long)]
    pub keyring_backend: Option<String>,
    /// Key that signs `register` and `fund`.
    #[arg(long)]
    pub key_name: Option<String>,
    /// Gas price such as `0.025ubal` (default: the chain's minimum).
    #[arg(long)]
    pub gas_prices: Option<String>,
    /// PEM file of the CA of the hub's gRPC TLS certificate.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// The name in the hub's TLS certificate.
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Height of a hub header to trust (with --trusted-hash); none: `run` needs
    /// `--trust-on-first-use`.
    #[arg(long)]
    pub trusted_height: Option<u64>,
    /// Hash (hex) of the header at --trusted-height.
    #[arg(long)]
    pub trusted_hash: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
}

/// `register` flags: each overrides the config's `[terms]`.
#[derive(Args, Debug, Default)]
pub struct RegisterArgs {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// ubal drawn from the lease every epoch while ACTIVE.
    #[arg(long)]
    pub fee_per_epoch: Option<String>,
    /// Operators with power needed to become ACTIVE.
    #[arg(long)]
    pub min_operators: Option<u32>,
    /// Most operators in the set.
    #[arg(long)]
    pub max_operators: Option<u32>,
    /// Share of allocated stake a double sign slashes (0 to 1).
    #[arg(long)]
    pub double_sign_slash_fraction: Option<String>,
    /// Epochs an operator is jailed on the hub after a double sign.
    #[arg(long)]
    pub jail_epochs: Option<u64>,
    /// `shared` or `isolated`.
    #[arg(long)]
    pub allocation_mode: Option<String>,
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(p))
}

/// The configuration `init` writes for `args` (paths given on the command line are made
/// absolute, since the file's relative paths are relative to the file).
pub fn init_config(args: &InitArgs) -> anyhow::Result<Config> {
    let mut c = Config {
        consumer_id: args.consumer_id.clone(),
        ..Config::default()
    };
    macro_rules! set {
        ($flag:expr => $field:expr) => {
            if let Some(v) = &$flag {
                $field = v.clone();
            }
        };
    }
    set!(args.hub_grpc => c.hub.grpc_address);
    set!(args.hub_rpc => c.hub.rpc_address);
    set!(args.chain_id => c.hub.chain_id);
    set!(args.keyring_backend => c.hub.keyring_backend);
    set!(args.key_name => c.hub.key_name);
    set!(args.gas_prices => c.hub.gas_prices);
    set!(args.tls_domain => c.hub.tls_domain);
    set!(args.trusted_height => c.light_client.trusted_height);
    set!(args.trusted_hash => c.light_client.trusted_hash);
    if let Some(p) = &args.data_dir {
        c.data_dir = absolute(p)?;
    }
    if let Some(p) = &args.keyring_dir {
        c.hub.keyring_dir = absolute(p)?;
    }
    if let Some(p) = &args.tls_ca {
        c.hub.tls_ca_file = absolute(p)?;
    }
    if let Some(f) = &args.log_format {
        c.log_format = match f.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => anyhow::bail!("--log-format {other:?}: expected text or json"),
        };
    }
    c.validate()?;
    Ok(c)
}

fn write_config(path: &Path, cfg: &Config, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!("{} exists; pass --force to replace it", path.display());
    }
    crate::store::write_atomic(path, cfg.render().as_bytes())?;
    println!("wrote {}", path.display());
    Ok(())
}

impl RegisterArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        let t = &mut cfg.terms;
        macro_rules! set {
            ($flag:expr => $field:expr) => {
                if let Some(v) = &$flag {
                    $field = v.clone();
                }
            };
        }
        set!(self.name => t.name);
        set!(self.fee_per_epoch => t.fee_per_epoch);
        set!(self.min_operators => t.min_operators);
        set!(self.max_operators => t.max_operators);
        set!(self.double_sign_slash_fraction => t.double_sign_slash_fraction);
        set!(self.jail_epochs => t.jail_epochs);
        set!(self.allocation_mode => t.allocation_mode);
        cfg.validate()?;
        Ok(())
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .thread_name("consumer")
        .build()
        .context("starting the async runtime")
}

async fn register(cfg: &Config) -> anyhow::Result<()> {
    let signer = hub::signer(cfg).await?;
    let owner = signer.address().to_string();
    let msg = hub::register_msg(&owner, &cfg.consumer_id, &cfg.terms);
    let inc = signer.send("register consumer", vec![msg]).await?;
    println!(
        "registered consumer {} (owner {owner}, txhash {}, height {})",
        cfg.consumer_id, inc.txhash, inc.height
    );
    Ok(())
}

async fn fund(cfg: &Config, amount: &str) -> anyhow::Result<()> {
    let amount = hub::parse_ubal(amount)?;
    let signer = hub::signer(cfg).await?;
    let funder = signer.address().to_string();
    let msg = hub::fund_msg(&funder, &cfg.consumer_id, &amount);
    let inc = signer.send("fund lease", vec![msg]).await?;
    println!(
        "funded consumer {} with {amount} ubal (txhash {}, height {})",
        cfg.consumer_id, inc.txhash, inc.height
    );
    Ok(())
}

async fn status(cfg: &Config) -> anyhow::Result<()> {
    use ballast_proto::ballast::consumers::v1 as pb;
    use serde_json::json;
    let local = crate::store::load(&cfg.data_dir, &cfg.consumer_id)?;
    let hub = hub::Hub::new(&cfg.hub)?;
    let on_hub = match hub.consumer(&cfg.consumer_id).await {
        Ok(r) => match r.consumer {
            Some(c) => json!({
                "status": pb::ConsumerStatus::try_from(c.status).map(|s| s.as_str_name()).unwrap_or("UNKNOWN"),
                "owner": c.owner,
                "lease_balance": c.lease_balance,
                "fee_per_epoch": c.terms.as_ref().map(|t| t.fee_per_epoch.clone()).unwrap_or_default(),
                "allocation_mode": pb::AllocationMode::try_from(c.allocation_mode).map(|s| s.as_str_name()).unwrap_or("UNKNOWN"),
                "last_update_id": c.last_update_id,
                "last_processed_epoch": c.last_processed_epoch,
                "total_paid": c.total_paid,
                "height": r.height,
            }),
            None => json!({"error": "the hub answered without a consumer"}),
        },
        Err(s) => json!({"error": s.to_string()}),
    };
    let v = json!({
        "consumer_id": cfg.consumer_id,
        "hub": on_hub,
        "local": {
            "update_id": local.update_id,
            "hub_height": local.hub_height,
            "epoch": local.epoch,
            "validators": local.validators.len(),
            "total_power": local.total_power(),
            "set_hash": hex::encode(local.set_hash),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Resolves the chain id, retrying while the hub's RPC is unreachable.
async fn chain_id_with_retry(cfg: &Config) -> String {
    let mut backoff = crate::follow::MIN_BACKOFF;
    loop {
        match hub::chain_id(cfg).await {
            Ok(id) => return id,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = backoff.as_millis() as u64,
                    "cannot read the hub's chain id yet"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(crate::follow::MAX_BACKOFF);
            }
        }
    }
}

/// What `run` ended with.
enum RunEnd {
    Done,
    Refused(anyhow::Error),
}

async fn run(cfg: &Config, opts: FollowOptions) -> anyhow::Result<RunEnd> {
    let tamper = opts.tamper;
    if tamper.is_some() {
        tracing::warn!(
            ?tamper,
            "tampering with every update: it must fail verification"
        );
    }
    let work = async {
        let chain_id = chain_id_with_retry(cfg).await;
        let mut follower = Follower::open(cfg, chain_id, opts, std::io::stdout())?;
        match follower.run().await {
            Ok(()) => Ok(RunEnd::Done),
            Err(e) if e.is_refusal() => Ok(RunEnd::Refused(e.into())),
            Err(e) => Err(anyhow::Error::from(e)),
        }
    };
    tokio::select! {
        r = work => r,
        _ = wait_for_signal() => {
            tracing::info!("signal received; stopping (the last verified update is on disk)");
            Ok(RunEnd::Done)
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| {
        format!(
            "loading {} (write one with `ballast-consumer init`)",
            path.display()
        )
    })
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<Option<anyhow::Error>> = (|| {
        match cli.cmd {
            Cmd::Init(args) => {
                let cfg = init_config(&args)?;
                write_config(&cli.config, &cfg, args.force)?;
                Ok(None)
            }
            Cmd::Register(args) => {
                let mut cfg = load(&cli.config)?;
                args.apply(&mut cfg)?;
                runtime()?.block_on(register(&cfg))?;
                Ok(None)
            }
            Cmd::Fund { amount } => {
                let cfg = load(&cli.config)?;
                runtime()?.block_on(fund(&cfg, &amount))?;
                Ok(None)
            }
            Cmd::Status => {
                let cfg = load(&cli.config)?;
                runtime()?.block_on(status(&cfg))?;
                Ok(None)
            }
            Cmd::Run {
                tamper,
                resync_if_pruned,
                trust_on_first_use,
            } => {
                let cfg = load(&cli.config)?;
                init_logging(cfg.log_format);
                // No trusted header and no leave to trust on first use: refused before
                // anything is contacted.
                if cfg.light_anchor(trust_on_first_use)?.is_none() {
                    tracing::warn!(
                        "no trusted hub header is configured: trusting the first header the hub serves (trust on first use); a hub that lies from the start is not caught (set light_client.trusted_height and trusted_hash to pin one)"
                    );
                }
                let rt = runtime()?;
                let end = rt.block_on(run(
                    &cfg,
                    FollowOptions {
                        tamper,
                        resync_if_pruned,
                        trust_on_first_use,
                    },
                ));
                // The stream and the light client's calls may still hold the runtime.
                rt.shutdown_timeout(Duration::from_secs(1));
                match end? {
                    RunEnd::Done => Ok(None),
                    RunEnd::Refused(e) => Ok(Some(e)),
                }
            }
        }
    })();
    match result {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(refused)) => {
            eprintln!("error: {refused:#}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_args(id: &str) -> InitArgs {
        InitArgs {
            consumer_id: id.into(),
            hub_grpc: Some("127.0.0.1:19090".into()),
            hub_rpc: Some("http://127.0.0.1:26657".into()),
            chain_id: None,
            data_dir: Some(PathBuf::from("rel/data")),
            keyring_dir: Some(PathBuf::from("/keys")),
            keyring_backend: None,
            key_name: Some("owner".into()),
            gas_prices: None,
            tls_ca: None,
            tls_domain: None,
            trusted_height: None,
            trusted_hash: None,
            log_format: Some("json".into()),
            force: false,
        }
    }

    #[test]
    fn init_writes_a_file_that_loads_back_with_the_flags_and_keeps_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("consumer.toml");
        let cfg = init_config(&init_args("demo-1")).unwrap();
        assert!(cfg.data_dir.is_absolute());
        write_config(&path, &cfg, false).unwrap();
        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded, cfg);
        assert_eq!(loaded.hub.key_name, "owner");
        assert_eq!(loaded.log_format, LogFormat::Json);
        assert!(write_config(&path, &cfg, false).is_err());
        write_config(&path, &cfg, true).unwrap();

        let err = init_config(&init_args("bad id")).unwrap_err().to_string();
        assert!(err.contains("consumer_id"), "{err}");
        let mut a = init_args("demo-1");
        a.trusted_height = Some(5);
        let err = init_config(&a).unwrap_err().to_string();
        assert!(err.contains("trusted_hash"), "{err}");
    }

    #[test]
    fn register_flags_override_the_configured_terms() {
        let mut cfg = init_config(&init_args("demo-1")).unwrap();
        cfg.terms.fee_per_epoch = "5".into();
        let args = RegisterArgs {
            max_operators: Some(3),
            allocation_mode: Some("isolated".into()),
            ..RegisterArgs::default()
        };
        args.apply(&mut cfg).unwrap();
        assert_eq!(cfg.terms.fee_per_epoch, "5");
        assert_eq!(cfg.terms.max_operators, 3);
        assert_eq!(cfg.terms.allocation_mode, "isolated");
        let bad = RegisterArgs {
            allocation_mode: Some("mixed".into()),
            ..RegisterArgs::default()
        };
        assert!(bad.apply(&mut cfg).is_err());
    }

    #[test]
    fn the_command_line_parses_every_subcommand() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["ballast-consumer", "--config", "c.toml", "run"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Run {
                tamper: None,
                resync_if_pruned: false,
                trust_on_first_use: false,
            }
        ));
        let c = Cli::try_parse_from(["ballast-consumer", "run", "--trust-on-first-use"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Run {
                trust_on_first_use: true,
                ..
            }
        ));
        let c = Cli::try_parse_from(["ballast-consumer", "run", "--tamper", "set-hash"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Run {
                tamper: Some(Tamper::SetHash),
                ..
            }
        ));
        let c = Cli::try_parse_from(["ballast-consumer", "fund", "--amount", "5ubal"]).unwrap();
        assert_eq!(c.config, PathBuf::from("consumer.toml"));
        assert!(Cli::try_parse_from(["ballast-consumer", "fund"]).is_err());
    }
}
