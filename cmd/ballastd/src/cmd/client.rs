//! Flags and output shared by `ballastd tx`, `ballastd query` and `ballastd status`.

use ballast_client::rpc::CometRpc;
use serde_json::Value;

/// Where the node is and how to print.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientFlags {
    /// CometBFT RPC of a node: tcp://host:port or http://host:port.
    #[arg(long, default_value = "tcp://localhost:26657")]
    pub node: String,
    /// gRPC address of a ballastd (host:port). When given, queries and broadcasts use gRPC.
    #[arg(long)]
    pub grpc: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

impl ClientFlags {
    /// The CometBFT RPC client for `--node`.
    pub fn rpc(&self) -> anyhow::Result<CometRpc> {
        Ok(CometRpc::new(&self.node)?)
    }

    /// The gRPC endpoint URL for `--grpc`, if given.
    pub fn grpc_url(&self) -> Option<String> {
        self.grpc.as_ref().map(|g| {
            if g.starts_with("http://") || g.starts_with("https://") {
                g.clone()
            } else {
                format!("http://{g}")
            }
        })
    }

    /// Prints `v` as JSON or as indented `key: value` text.
    pub fn print(&self, v: &Value) {
        if self.output == "json" {
            println!("{v}");
        } else {
            let mut out = String::new();
            text(v, 0, &mut out);
            print!("{out}");
        }
    }
}

/// A current-thread runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// YAML-like text, the way Cosmos CLIs print query results.
fn text(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match val {
                    Value::Object(o) if !o.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        text(val, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        text(val, indent, out);
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(val))),
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                let mut inner = String::new();
                text(item, indent + 2, &mut inner);
                let trimmed = inner.trim_start();
                out.push_str(&format!("{pad}- {trimmed}"));
                if !trimmed.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_output_nests_like_cosmos_clis() {
        let v = serde_json::json!({
            "balances": [{"amount": "10", "denom": "ubal"}],
            "pagination": {"next_key": null, "total": "0"}
        });
        let mut out = String::new();
        text(&v, 0, &mut out);
        assert_eq!(
            out,
            "balances:\n- amount: \"10\"\n  denom: ubal\npagination:\n  next_key: null\n  total: \"0\"\n"
                .replace("\"10\"", "10")
                .replace("\"0\"", "0")
        );
    }
}
