//! `ballastd tx btclightclient insert-headers`: sends raw Bitcoin headers to the light client in
//! one `MsgInsertHeaders`, signed and broadcast like `tx bank send`.

use super::query_btclightclient::{header_hash, HEADER_LEN};
use super::tx::{sign_and_broadcast, TxFlags};
use crate::Global;
use anyhow::Context;
use ballast_client::keyring::input::{open_keyring, resolve_backend};
use ballast_proto::ballast::btclightclient::v1::MsgInsertHeaders;
use prost::Message;
use serde_json::json;
use std::path::PathBuf;

/// Type URL of the message.
const MSG_TYPE_URL: &str = "/ballast.btclightclient.v1.MsgInsertHeaders";

/// `ballastd tx btclightclient` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Insert Bitcoin headers, lowest first: raw 80-byte headers in hex (as
    /// `bitcoin-cli getblockheader <hash> false` prints them), as arguments or from --file.
    InsertHeaders {
        /// Headers in hex, lowest first; one argument may hold several back to back.
        headers: Vec<String>,
        /// A file of hex headers separated by white space (read after the arguments).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Key name (or address) in the keyring that signs and pays.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::InsertHeaders {
            headers,
            file,
            from,
            tx,
        } => {
            let mut words = headers;
            if let Some(path) = &file {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read headers from {}", path.display()))?;
                words.extend(text.split_whitespace().map(str::to_string));
            }
            let headers = parse_headers(&words)?;
            let backend = resolve_backend(tx.keyring_backend.as_deref())?;
            let keyring = open_keyring(&g.home, backend, true)?;
            let key = keyring.signing_key(&from)?;
            let signer = keyring.show(&from)?.address;
            let summary = json!({
                "body": {"messages": [{
                    "@type": MSG_TYPE_URL,
                    "signer": signer,
                    "headers": headers.iter().map(|h| json!({
                        "hash": header_hash(h),
                        "header": hex::encode(h),
                    })).collect::<Vec<_>>(),
                }], "memo": tx.memo},
            });
            let msg = MsgInsertHeaders { signer, headers };
            let any = prost_types::Any {
                type_url: MSG_TYPE_URL.into(),
                value: msg.encode_to_vec(),
            };
            sign_and_broadcast(&tx, &key, vec![any], &summary)
        }
    }
}

/// Decodes hex words into 80-byte headers. A word may hold several headers back to back; an
/// optional `0x` is allowed.
pub fn parse_headers(words: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let bytes = hex::decode(w.trim_start_matches("0x"))
            .map_err(|e| anyhow::anyhow!("header argument {i} is not hex: {e}"))?;
        if bytes.is_empty() || bytes.len() % HEADER_LEN != 0 {
            anyhow::bail!(
                "header argument {i} is {} bytes, expected {HEADER_LEN} (or a multiple of {HEADER_LEN} for several headers)",
                bytes.len()
            );
        }
        out.extend(bytes.chunks(HEADER_LEN).map(<[u8]>::to_vec));
    }
    if out.is_empty() {
        anyhow::bail!("no headers given: pass hex headers as arguments or with --file");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct TxCli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[test]
    fn insert_headers_takes_headers_a_file_and_the_tx_flags() {
        TxCli::command().debug_assert();
        let a = "11".repeat(HEADER_LEN);
        let parsed = TxCli::try_parse_from([
            "btclightclient",
            "insert-headers",
            &a,
            &a,
            "--file",
            "more.txt",
            "--from",
            "dev",
            "--yes",
            "--gas",
            "300000",
        ])
        .unwrap();
        let Cmd::InsertHeaders {
            headers,
            file,
            from,
            tx,
        } = parsed.cmd;
        assert_eq!(headers, vec![a.clone(), a]);
        assert_eq!(file, Some(PathBuf::from("more.txt")));
        assert_eq!(
            (from.as_str(), tx.yes, tx.gas.as_str()),
            ("dev", true, "300000")
        );
        assert!(TxCli::try_parse_from(["btclightclient", "insert-headers", "00"]).is_err());
    }

    #[test]
    fn headers_parse_one_per_word_or_back_to_back() {
        let a = "11".repeat(HEADER_LEN);
        let b = "22".repeat(HEADER_LEN);
        let got = parse_headers(&[a.clone(), format!("0x{a}{b}")]).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], vec![0x11; HEADER_LEN]);
        assert_eq!(got[2], vec![0x22; HEADER_LEN]);

        let e = parse_headers(&["11".repeat(79)]).unwrap_err().to_string();
        assert!(e.contains("79 bytes, expected 80"), "{e}");
        let e = parse_headers(&["zz".into()]).unwrap_err().to_string();
        assert!(e.contains("not hex"), "{e}");
        let e = parse_headers(&[]).unwrap_err().to_string();
        assert!(e.contains("no headers"), "{e}");
    }
}
