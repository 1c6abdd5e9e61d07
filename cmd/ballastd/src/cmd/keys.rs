//! `ballastd keys`: manage account keys in the keyring under the node home.
//!
//! The subcommands follow the Cosmos SDK's `keys` command: `add [--recover]`, `list`, `show`,
//! `delete`, `export` and `import`, with `--keyring-backend test|file` and `--output text|json`.
//! Secrets are read as [`ballast_client::keyring::input`] describes: the keyring passphrase
//! (file backend) from `$BALLAST_KEYRING_PASSPHRASE`, the terminal, or the first stdin line;
//! then the command's own input from the next stdin line.

use crate::Global;
use anyhow::{bail, Context};
use ballast_client::keyring::input::{self, InputError};
use ballast_client::keyring::{Backend, KeyInfo, Keyring, KeyringError};
use std::path::{Path, PathBuf};

const BACKEND_HELP: &str = "Keyring backend: `test` (unencrypted files, for tests and local \
chains) or `file` (each key encrypted with the keyring passphrase). Default: \
$BALLAST_KEYRING_BACKEND if set, else `file`.";

const PASSPHRASE_HELP: &str = "The file backend's keyring passphrase is taken from \
$BALLAST_KEYRING_PASSPHRASE if set; else asked on the terminal if stdin is one (twice when the \
keyring has none yet, which needs at least 8 characters); else read as the first line of stdin. \
Prompts go to stderr; stdout carries only the result.";

/// Options every `keys` subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct KeyringArgs {
    #[arg(long, value_name = "test|file", value_parser = ["test", "file"], help = BACKEND_HELP)]
    pub keyring_backend: Option<String>,
}

impl KeyringArgs {
    /// The backend chosen by the flag or the environment.
    pub fn backend(&self) -> anyhow::Result<Backend> {
        Ok(input::resolve_backend(self.keyring_backend.as_deref())?)
    }
}

/// How results are printed.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format; `json` matches the Cosmos SDK key output (name, type, address, pubkey).
    #[arg(long, short = 'o', default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

impl OutputArgs {
    fn json(&self) -> bool {
        self.output == "json"
    }
}

/// `ballastd keys` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Create a key from a new 24-word mnemonic, or recover one from its mnemonic.
    #[command(after_help = format!(
        "Without --recover a new 24-word mnemonic is generated and printed once: write it \
         down, it is the only way to recover the key.\n\n\
         Lines of stdin, in order: (1) the keyring passphrase (file backend, when it is not \
         in $BALLAST_KEYRING_PASSPHRASE and stdin is not a terminal); (2) with --recover, \
         the BIP-39 mnemonic, on one line.\n\n{PASSPHRASE_HELP}"
    ))]
    Add(AddArgs),
    /// List all keys, sorted by name (no passphrase needed).
    List(ListArgs),
    /// Show a key by name or address (no passphrase needed).
    Show(ShowArgs),
    /// Delete a key (no passphrase needed).
    #[command(
        after_help = "Without --yes, asks for confirmation and reads a y/N answer \
                           from the first line of stdin."
    )]
    Delete(DeleteArgs),
    /// Print a key's private key as ASCII armor encrypted with an export passphrase.
    #[command(after_help = format!(
        "Lines of stdin, in order: (1) the keyring passphrase (file backend, when it is not \
         in $BALLAST_KEYRING_PASSPHRASE and stdin is not a terminal); (2) the export \
         passphrase (at least 8 characters; asked twice on a terminal).\n\n{PASSPHRASE_HELP}"
    ))]
    Export(ExportArgs),
    /// Import a key from an ASCII-armored export file.
    #[command(after_help = format!(
        "Lines of stdin, in order: (1) the keyring passphrase (file backend, when it is not \
         in $BALLAST_KEYRING_PASSPHRASE and stdin is not a terminal); (2) the passphrase the \
         export was encrypted with.\n\n{PASSPHRASE_HELP}"
    ))]
    Import(ImportArgs),
}

/// `keys add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Name of the new key ([A-Za-z0-9._-], at most 64 characters).
    pub name: String,
    /// Recover the key from a BIP-39 mnemonic read from stdin instead of creating a new one.
    #[arg(long)]
    pub recover: bool,
    #[command(flatten)]
    pub keyring: KeyringArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `keys list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub keyring: KeyringArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `keys show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Key name or bech32 address.
    pub name_or_address: String,
    /// Print only the address.
    #[arg(long, short = 'a', conflicts_with = "pubkey")]
    pub address: bool,
    /// Print only the public key (Cosmos JSON: {"@type":…,"key":…}).
    #[arg(long, short = 'p')]
    pub pubkey: bool,
    #[command(flatten)]
    pub keyring: KeyringArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `keys delete`.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// Name of the key to delete.
    pub name: String,
    /// Delete without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub keyring: KeyringArgs,
}

/// `keys export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Name or address of the key to export.
    pub name: String,
    #[command(flatten)]
    pub keyring: KeyringArgs,
}

/// `keys import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Name to store the key under.
    pub name: String,
    /// File holding the ASCII-armored key written by `keys export`.
    pub armor_file: PathBuf,
    #[command(flatten)]
    pub keyring: KeyringArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::Add(a) => add(a, &g.home),
        Cmd::List(a) => list(a, &g.home),
        Cmd::Show(a) => show(a, &g.home),
        Cmd::Delete(a) => delete(a, &g.home),
        Cmd::Export(a) => export(a, &g.home),
        Cmd::Import(a) => import(a, &g.home),
    }
}

/// Opens the keyring without a passphrase (for reads, and checks made before prompting).
fn open_locked(home: &Path, args: &KeyringArgs) -> anyhow::Result<Keyring> {
    Ok(Keyring::open(home, args.backend()?, None)?)
}

/// Refuses a name that is invalid or taken, before anything is prompted for.
fn check_new_name(kr: &Keyring, name: &str) -> anyhow::Result<()> {
    ballast_client::keyring::validate_name(name)?;
    match kr.show(name) {
        Ok(k) if k.name == name => Err(KeyringError::AlreadyExists(name.to_string()).into()),
        Ok(_) | Err(KeyringError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn add(a: AddArgs, home: &Path) -> anyhow::Result<()> {
    let backend = a.keyring.backend()?;
    check_new_name(&open_locked(home, &a.keyring)?, &a.name)?;
    let kr = input::open_keyring(home, backend, true)?;
    let (info, mnemonic) = if a.recover {
        let words = input::read_line("Enter your BIP-39 mnemonic: ", "the mnemonic")?;
        (kr.recover(&a.name, &words)?, None)
    } else {
        let (info, words) = kr.add(&a.name)?;
        (info, Some(words))
    };
    if a.out.json() {
        let mut v = info.to_json();
        if let Some(m) = &mnemonic {
            v["mnemonic"] = m.clone().into();
        }
        println!("{v}");
    } else {
        print!("{}", text_record(&info, "- "));
        if let Some(m) = &mnemonic {
            println!();
            println!(
                "**Important** Write this mnemonic phrase down and keep it somewhere safe.\n\
                 It is the only way to recover this key; it is not stored anywhere.\n"
            );
            println!("{m}");
        }
    }
    Ok(())
}

fn list(a: ListArgs, home: &Path) -> anyhow::Result<()> {
    let keys = open_locked(home, &a.keyring)?.list()?;
    if a.out.json() {
        let v: Vec<_> = keys.iter().map(KeyInfo::to_json).collect();
        println!("{}", serde_json::Value::Array(v));
    } else if keys.is_empty() {
        eprintln!("No keys in the keyring.");
    } else {
        for k in &keys {
            print!("{}", text_record(k, "- "));
        }
    }
    Ok(())
}

fn show(a: ShowArgs, home: &Path) -> anyhow::Result<()> {
    let k = open_locked(home, &a.keyring)?.show(&a.name_or_address)?;
    if a.address {
        println!("{}", k.address);
    } else if a.pubkey {
        println!("{}", k.pubkey_json());
    } else if a.out.json() {
        println!("{}", k.to_json());
    } else {
        print!("{}", text_record(&k, ""));
    }
    Ok(())
}

fn delete(a: DeleteArgs, home: &Path) -> anyhow::Result<()> {
    let kr = open_locked(home, &a.keyring)?;
    ballast_client::keyring::validate_name(&a.name)?;
    let k = kr.show(&a.name)?;
    if k.name != a.name {
        // `show` also matches addresses; `delete` takes names only.
        return Err(KeyringError::NotFound(a.name).into());
    }
    if !a.yes {
        let question = format!(
            "Delete key {:?} ({})? Without its mnemonic or an export it is gone for good.",
            k.name, k.address
        );
        match input::confirm(&question) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("Key {:?} was not deleted.", k.name);
                return Ok(());
            }
            Err(InputError::Eof(_)) => {
                bail!("no confirmation on stdin: answer y, or pass --yes to delete without asking")
            }
            Err(e) => return Err(e.into()),
        }
    }
    kr.delete(&a.name)?;
    eprintln!("Key {:?} deleted.", k.name);
    Ok(())
}

fn export(a: ExportArgs, home: &Path) -> anyhow::Result<()> {
    let backend = a.keyring.backend()?;
    // Fail on an unknown key before asking for any passphrase.
    open_locked(home, &a.keyring)?.show(&a.name)?;
    let kr = input::open_keyring(home, backend, true)?;
    let export_pass = input::read_secret(
        "Enter a passphrase to encrypt the exported key: ",
        "the export passphrase",
        true,
    )?;
    print!("{}", kr.export(&a.name, &export_pass)?);
    Ok(())
}

fn import(a: ImportArgs, home: &Path) -> anyhow::Result<()> {
    let backend = a.keyring.backend()?;
    check_new_name(&open_locked(home, &a.keyring)?, &a.name)?;
    let armored = std::fs::read_to_string(&a.armor_file)
        .with_context(|| format!("cannot read the armored key {}", a.armor_file.display()))?;
    let kr = input::open_keyring(home, backend, true)?;
    let export_pass = input::read_secret(
        "Enter the passphrase the exported key is encrypted with: ",
        "the export passphrase",
        false,
    )?;
    let info = kr.import(&a.name, &armored, &export_pass)?;
    if a.out.json() {
        println!("{}", info.to_json());
    } else {
        print!("{}", text_record(&info, ""));
    }
    Ok(())
}

/// A key as the Cosmos SDK prints it in text (YAML), each line after the first indented to
/// match `first_prefix` (`"- "` inside a list).
fn text_record(k: &KeyInfo, first_prefix: &str) -> String {
    let indent = " ".repeat(first_prefix.len());
    format!(
        "{first_prefix}address: {}\n{indent}name: {}\n{indent}pubkey: '{}'\n{indent}type: local\n",
        k.address,
        k.name,
        k.pubkey_json()
    )
}
