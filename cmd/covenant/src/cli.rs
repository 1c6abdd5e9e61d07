//! The command line: `ballast-covenant start`, `init-config` and `keygen`.

use crate::config::{Config, LogFormat, DEFAULT_CONFIG_TOML};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Checks PENDING BTC delegations and adds this covenant member's signatures to them.
#[derive(Parser, Debug)]
#[command(name = "ballast-covenant", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the signer until SIGINT or SIGTERM.
    Start(Box<StartArgs>),
    /// Write a commented default configuration file.
    InitConfig {
        /// Where to write it.
        #[arg(long, default_value = "covenant.toml")]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Write a new covenant key (mode 0600) and print its x-only public key.
    Keygen {
        /// Where to write it; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
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
    /// ballast.gas_prices
    #[arg(long)]
    pub gas_prices: Option<String>,
    /// covenant.key_file
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// covenant.poll_interval_ms
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
}

impl StartArgs {
    /// The config file (or the defaults) with every given flag applied, validated.
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
        set!(self.gas_prices => cfg.ballast.gas_prices);
        set!(self.key_file => cfg.covenant.key_file);
        set!(self.poll_interval_ms => cfg.covenant.poll_interval_ms);
        if let Some(f) = &self.log_format {
            cfg.log_format = match f.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => anyhow::bail!("--log-format {other:?}: expected text or json"),
            };
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

/// Writes a new covenant key to `out` and returns its x-only public key as hex.
pub fn keygen(out: &Path) -> anyhow::Result<String> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let sk = ballast_client::btc_key::new_btc_key();
    ballast_client::btc_key::write_btc_key(out, &sk)?;
    Ok(hex::encode(ballast_client::btc_key::xonly(&sk).serialize()))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut logging = false;
    let result = match cli.cmd {
        Cmd::InitConfig { output, force } => write_default_config(&output, force),
        Cmd::Keygen { out } => keygen(&out).map(|pk| println!("{pk}")),
        Cmd::Start(args) => match args.resolve() {
            Err(e) => Err(e),
            Ok(cfg) => {
                init_logging(cfg.log_format);
                logging = true;
                match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("covenant")
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
                tracing::error!(error = format!("{e:#}"), "ballast-covenant failed");
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
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[ballast]\nkey_name = \"file-key\"\nchain_id = \"file-chain\"\n\
             [covenant]\npoll_interval_ms = 700\nkey_file = \"k.json\"\n",
        )
        .unwrap();
        let args = StartArgs {
            config: Some(path),
            chain_id: Some("flag-chain".into()),
            key_file: Some(PathBuf::from("/keys/cov.json")),
            log_format: Some("json".into()),
            ..StartArgs::default()
        };
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.ballast.chain_id, "flag-chain");
        assert_eq!(cfg.ballast.key_name, "file-key");
        assert_eq!(cfg.covenant.poll_interval_ms, 700);
        assert_eq!(cfg.covenant.key_file, PathBuf::from("/keys/cov.json"));
        assert_eq!(cfg.log_format, LogFormat::Json);
        // An override that breaks validation is refused, naming the field.
        let bad = StartArgs {
            poll_interval_ms: Some(0),
            ..StartArgs::default()
        };
        let err = bad.resolve().unwrap_err().to_string();
        assert!(err.contains("covenant.poll_interval_ms"), "{err}");
        let bad = StartArgs {
            log_format: Some("xml".into()),
            ..StartArgs::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn init_config_writes_the_default_and_keeps_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("covenant.toml");
        write_default_config(&path, false).unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(
            cfg.covenant.key_file,
            path.parent().unwrap().join("covenant_key.json")
        );
        std::fs::write(&path, "x").unwrap();
        assert!(write_default_config(&path, false).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
        write_default_config(&path, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), DEFAULT_CONFIG_TOML);
    }

    #[test]
    fn keygen_writes_a_private_key_whose_public_key_it_prints_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("cov.json");
        let pk = keygen(&path).unwrap();
        let sk = ballast_client::btc_key::load_btc_key(&path).unwrap();
        assert_eq!(
            pk,
            hex::encode(ballast_client::btc_key::xonly(&sk).serialize())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = std::fs::read(&path).unwrap();
        assert!(keygen(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
