//! The default genesis `app_state` that `ballastd init` writes into CometBFT's `genesis.json`.
//!
//! It has one section per module, in [`MODULE_ORDER`](crate::modules::MODULE_ORDER), each being
//! that module's [`Module::default_genesis`](ballast_framework::Module::default_genesis), plus the
//! app's own section:
//!
//! ```json
//! { "app": { "epoch_length": 10 }, "accounts": { "params": { ... }, "accounts": [] } }
//! ```
//!
//! [`App::init_chain`](crate::App::init_chain) accepts exactly these sections.

use crate::app::DEFAULT_EPOCH_LENGTH;
use crate::modules::all_modules;

/// Name of the app's own genesis section (chain-wide settings that belong to no module).
pub const APP_SECTION: &str = "app";

/// The app's own genesis section: `{"epoch_length": N}`.
pub fn default_app_section() -> serde_json::Value {
    serde_json::json!({ "epoch_length": DEFAULT_EPOCH_LENGTH })
}

/// The default `app_state`: the app section and every module's default genesis.
pub fn default_app_state() -> serde_json::Value {
    let mut sections = serde_json::Map::new();
    sections.insert(APP_SECTION.to_string(), default_app_section());
    for m in all_modules() {
        sections.insert(m.name().to_string(), m.default_genesis());
    }
    serde_json::Value::Object(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::MODULE_ORDER;

    #[test]
    fn default_app_state_has_the_app_section_and_every_module() {
        let state = default_app_state();
        let sections = state.as_object().expect("the app state is an object");
        let mut expected: Vec<&str> = MODULE_ORDER.to_vec();
        expected.push(APP_SECTION);
        expected.sort_unstable();
        let mut found: Vec<&str> = sections.keys().map(String::as_str).collect();
        found.sort_unstable();
        assert_eq!(found, expected);
        assert_eq!(state[APP_SECTION]["epoch_length"], DEFAULT_EPOCH_LENGTH);
        for m in all_modules() {
            assert_eq!(sections[m.name()], m.default_genesis());
        }
    }

    #[test]
    fn init_chain_accepts_the_default_app_state() {
        let dir = tempfile::tempdir().expect("a temp dir can be created");
        let app = crate::App::open(crate::AppConfig::new(dir.path())).expect("a fresh store opens");
        let req = tendermint_proto::v0_38::abci::RequestInitChain {
            chain_id: "ballast-local-1".into(),
            initial_height: 1,
            app_state_bytes: serde_json::to_vec(&default_app_state())
                .expect("json serialises")
                .into(),
            ..Default::default()
        };
        let res = app
            .init_chain(req)
            .expect("the default app state is accepted");
        assert_eq!(res.app_hash.len(), 32);
    }
}
