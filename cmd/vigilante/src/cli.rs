//! The command line: `ballast-vigilante start` and `ballast-vigilante init-config`.

use crate::config::{Config, LogFormat, DEFAULT_CONFIG_TOML};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Submits Ballast checkpoints to Bitcoin and relays Bitcoin headers and SPV proofs to Ballast.
#[derive(Parser, Debug)]
#[command(name = "ballast-vigilante", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the submitter and the reporter until SIGINT or SIGTERM.
    Start(Box<StartArgs>),
    /// Write a commented default configuration file.
    InitConfig {
        /// Where to write it.
        #[arg(long, default_value = "vigilante.toml")]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `start` options; each flag overrides the config file.
#[derive(Args, Debug, Default)]
pub struct StartArgs {
    /// The config file (defaults apply when absent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// data_dir
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// log_format: text or json
    #[arg(long)]
    pub log_format: Option<String>,
    /// ballast.rpc_address
    #[arg(long)]
    pub ballast_rpc: Option<String>,
    /// ballast.grpc_address
    #[arg(long)]
    pub ballast_grpc: Option<String>,
    /// ballast.chain_id
    #[arg(long)]
    pub chain_id: Option<String>,
    /// ballast.keyring_dir
    #[arg(long)]
    pub keyring_dir: Option<PathBuf>,
    /// ballast.keyring_backend
    #[arg(long)]
    pub keyring_backend: Option<String>,
    /// ballast.key_name
    #[arg(long)]
    pub key_name: Option<String>,
    /// bitcoin.rpc_url
    #[arg(long)]
    pub bitcoin_rpc_url: Option<String>,
    /// bitcoin.wallet
    #[arg(long)]
    pub bitcoin_wallet: Option<String>,
    /// bitcoin.rpc_user
    #[arg(long)]
    pub bitcoin_rpc_user: Option<String>,
    /// bitcoin.rpc_password
    #[arg(long)]
    pub bitcoin_rpc_password: Option<String>,
    /// bitcoin.rpc_cookie_file
    #[arg(long)]
    pub bitcoin_cookie_file: Option<PathBuf>,
    /// bitcoin.network
    #[arg(long)]
    pub network: Option<String>,
    /// submitter.fee_rate_sat_vb
    #[arg(long)]
    pub fee_rate: Option<u64>,
    /// submitter.max_fee_rate_sat_vb
    #[arg(long)]
    pub max_fee_rate: Option<u64>,
    /// submitter.rbf_after_blocks
    #[arg(long)]
    pub rbf_after_blocks: Option<u64>,
    /// submitter.poll_interval_ms
    #[arg(long)]
    pub submitter_poll_ms: Option<u64>,
    /// reporter.poll_interval_ms
    #[arg(long)]
    pub reporter_poll_ms: Option<u64>,
    /// reporter.header_batch_size
    #[arg(long)]
    pub header_batch_size: Option<u32>,
    /// Do not run the submitter.
    #[arg(long)]
    pub no_submitter: bool,
    /// Do not run the reporter.
    #[arg(long)]
    pub no_reporter: bool,
}

impl StartArgs {
    /// The config file (or the defaults) with every given flag applied.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($flag:expr => $field:expr) => {
                if let Some(v) = &$flag {
                    $field = v.clone();
                }
            };
        }
        set!(self.data_dir => cfg.data_dir);
        set!(self.ballast_rpc => cfg.ballast.rpc_address);
        set!(self.ballast_grpc => cfg.ballast.grpc_address);
        set!(self.chain_id => cfg.ballast.chain_id);
        set!(self.keyring_dir => cfg.ballast.keyring_dir);
        set!(self.keyring_backend => cfg.ballast.keyring_backend);
        set!(self.key_name => cfg.ballast.key_name);
        set!(self.bitcoin_rpc_url => cfg.bitcoin.rpc_url);
        set!(self.bitcoin_wallet => cfg.bitcoin.wallet);
        set!(self.bitcoin_rpc_user => cfg.bitcoin.rpc_user);
        set!(self.bitcoin_rpc_password => cfg.bitcoin.rpc_password);
        set!(self.bitcoin_cookie_file => cfg.bitcoin.rpc_cookie_file);
        set!(self.network => cfg.bitcoin.network);
        set!(self.fee_rate => cfg.submitter.fee_rate_sat_vb);
        set!(self.max_fee_rate => cfg.submitter.max_fee_rate_sat_vb);
        set!(self.rbf_after_blocks => cfg.submitter.rbf_after_blocks);
        set!(self.submitter_poll_ms => cfg.submitter.poll_interval_ms);
        set!(self.reporter_poll_ms => cfg.reporter.poll_interval_ms);
        set!(self.header_batch_size => cfg.reporter.header_batch_size);
        if let Some(f) = &self.log_format {
            cfg.log_format = match f.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => anyhow::bail!("--log-format {other:?}: expected text or json"),
            };
        }
        if self.no_submitter {
            cfg.submitter.enable = false;
        }
        if self.no_reporter {
            cfg.reporter.enable = false;
        }
        cfg.validate()?;
        Ok(cfg)
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

fn write_default_config(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!("{} exists; pass --force to replace it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, DEFAULT_CONFIG_TOML)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut logging = false;
    let result = match cli.cmd {
        Cmd::InitConfig { output, force } => write_default_config(&output, force),
        Cmd::Start(args) => match args.resolve() {
            Err(e) => Err(e),
            Ok(cfg) => {
                init_logging(cfg.log_format);
                logging = true;
                match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("vigilante")
                    .build()
                {
                    Ok(rt) => rt.block_on(crate::daemon::run(cfg)),
                    Err(e) => Err(e.into()),
                }
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if logging {
                tracing::error!(error = format!("{e:#}"), "ballast-vigilante failed");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.toml");
        std::fs::write(
            &path,
            "[bitcoin]\nrpc_user = \"file-user\"\nrpc_password = \"p\"\n[submitter]\nfee_rate_sat_vb = 4\n",
        )
        .unwrap();
        let args = StartArgs {
            config: Some(path),
            fee_rate: Some(7),
            bitcoin_wallet: Some("w2".into()),
            no_reporter: true,
            ..StartArgs::default()
        };
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.submitter.fee_rate_sat_vb, 7);
        assert_eq!(cfg.bitcoin.wallet, "w2");
        assert_eq!(cfg.bitcoin.rpc_user, "file-user");
        assert!(!cfg.reporter.enable && cfg.submitter.enable);
        // An override that breaks validation is refused.
        let bad = StartArgs {
            bitcoin_rpc_user: Some("u".into()),
            fee_rate: Some(0),
            ..StartArgs::default()
        };
        assert!(bad
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("fee_rate_sat_vb"));
    }

    #[test]
    fn init_config_writes_the_default_and_keeps_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("vigilante.toml");
        write_default_config(&path, false).unwrap();
        assert_eq!(Config::load(&path).unwrap().bitcoin.wallet, "ballast");
        std::fs::write(&path, "x").unwrap();
        assert!(write_default_config(&path, false).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
        write_default_config(&path, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), DEFAULT_CONFIG_TOML);
    }
}
