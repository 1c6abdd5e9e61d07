//! How `ballastd` commands choose a keyring backend and read passphrases and mnemonics, so
//! every command that touches keys behaves the same.
//!
//! - Backend: the `--keyring-backend` flag, else `$BALLAST_KEYRING_BACKEND`, else `file`.
//! - Keyring passphrase (`file` backend only, and only for commands that need it):
//!   `$BALLAST_KEYRING_PASSPHRASE` if set; else a no-echo prompt on the terminal if stdin is a
//!   terminal (asked twice when the keyring has no passphrase yet); else one line of stdin.
//! - Other secrets (a mnemonic, an export passphrase) and confirmations: a prompt on the
//!   terminal, or else the next line of stdin. The keyring passphrase is always read first.
//!
//! Prompts go to stderr (or the terminal), never to stdout, so stdout stays parseable.

use super::{Backend, Keyring, KeyringError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Environment variable naming the default backend.
pub const BACKEND_ENV: &str = "BALLAST_KEYRING_BACKEND";
/// Environment variable holding the keyring passphrase.
pub const PASSPHRASE_ENV: &str = "BALLAST_KEYRING_PASSPHRASE";

/// Why input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// stdin ended before the expected line.
    #[error("expected {0} on stdin, found end of input")]
    Eof(String),
    /// The two entries of a new passphrase differ.
    #[error("the two passphrases entered differ")]
    Mismatch,
    /// Reading the terminal or stdin failed.
    #[error("cannot read {what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The keyring refused.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// The backend: `flag` if given, else `$BALLAST_KEYRING_BACKEND`, else `file`.
pub fn resolve_backend(flag: Option<&str>) -> Result<Backend, KeyringError> {
    match flag {
        Some(f) => f.parse(),
        None => match std::env::var(BACKEND_ENV) {
            Ok(v) if !v.is_empty() => v.parse(),
            _ => Ok(Backend::File),
        },
    }
}

/// Whether stdin is an interactive terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Reads one line of stdin without its line ending, after writing `prompt` to stderr.
/// `what` names the line in the error if stdin has ended.
pub fn read_line(prompt: &str, what: &str) -> Result<String, InputError> {
    if !prompt.is_empty() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| InputError::Io {
            what: what.to_string(),
            source,
        })?;
    if n == 0 {
        return Err(InputError::Eof(what.to_string()));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}

/// Reads a secret: a no-echo prompt on the terminal if stdin is one, else the next stdin line.
/// With `confirm`, a terminal user types it twice.
pub fn read_secret(prompt: &str, what: &str, confirm: bool) -> Result<String, InputError> {
    if !stdin_is_terminal() {
        return read_line(prompt, what);
    }
    let io = |source| InputError::Io {
        what: what.to_string(),
        source,
    };
    let first = rpassword::prompt_password(prompt).map_err(io)?;
    if confirm {
        let second = rpassword::prompt_password("Repeat to confirm: ").map_err(io)?;
        if first != second {
            return Err(InputError::Mismatch);
        }
    }
    Ok(first)
}

/// The keyring passphrase: `$BALLAST_KEYRING_PASSPHRASE` if set, else read with
/// [`read_secret`] (confirmed on a terminal when `new` is true).
pub fn keyring_passphrase(new: bool) -> Result<String, InputError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    let prompt = if new {
        "Enter a passphrase for the new keyring: "
    } else {
        "Enter keyring passphrase: "
    };
    read_secret(prompt, "the keyring passphrase", new)
}

/// Opens the keyring of `backend` under `home`. For the `file` backend with
/// `needs_passphrase`, reads the keyring passphrase first (see the module docs).
pub fn open_keyring(
    home: &Path,
    backend: Backend,
    needs_passphrase: bool,
) -> Result<Keyring, InputError> {
    let kr = Keyring::open(home, backend, None)?;
    if backend == Backend::Test || !needs_passphrase {
        return Ok(kr);
    }
    let pass = keyring_passphrase(!kr.passphrase_is_set())?;
    Ok(Keyring::open(home, backend, Some(pass))?)
}

/// Asks a yes/no question on stderr and reads the answer from stdin; only `y`/`yes` is yes.
pub fn confirm(question: &str) -> Result<bool, InputError> {
    let answer = read_line(&format!("{question} [y/N]: "), "a y/N answer")?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_flag_wins_and_bad_names_are_refused() {
        assert_eq!(resolve_backend(Some("test")).unwrap(), Backend::Test);
        assert_eq!(resolve_backend(Some("file")).unwrap(), Backend::File);
        let e = resolve_backend(Some("os")).unwrap_err();
        assert!(e.to_string().contains("\"os\""), "{e}");
    }
}
