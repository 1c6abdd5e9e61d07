//! `ballastd genesis`: edits `<home>/config/genesis.json` before the chain starts.
//!
//! `add-account <address|key-name> <coins>` adds an account with opening balances to
//! `app_state.accounts.accounts`. As in Cosmos, an account already in genesis is an error unless
//! `--append` is given, which adds the coins to its balances.

use crate::home;
use crate::home::genesis::GenesisDoc;
use crate::Global;
use anyhow::Context;
use ballast_accounts::genesis::{GenesisAccount, GenesisCoin, GenesisState};
use ballast_accounts::{Coin, Coins};
use ballast_framework::Address;
use std::collections::BTreeMap;

/// `ballastd genesis` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Add an account with opening balances to genesis.json.
    AddAccount(AddAccountArgs),
}

/// `ballastd genesis add-account` options.
#[derive(clap::Args, Debug)]
pub struct AddAccountArgs {
    /// A bech32 `ballast1...` address, or the name of a key in the keyring.
    pub address_or_key: String,
    /// Coins, such as `1000000ubal,5stake`.
    pub coins: String,
    /// Keyring backend used to resolve a key name: test or file [default:
    /// $BALLAST_KEYRING_BACKEND, else file].
    #[arg(long)]
    pub keyring_backend: Option<String>,
    /// Add the coins to an account that is already in genesis instead of failing.
    #[arg(long)]
    pub append: bool,
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::AddAccount(a) => add_account(a, g),
    }
}

fn add_account(args: AddAccountArgs, g: &Global) -> anyhow::Result<()> {
    let home = g.home.as_path();
    let coins = parse_coins(&args.coins)?;
    let address = resolve_address(home, &args.address_or_key, args.keyring_backend.as_deref())?;
    let path = home::genesis_path(home);
    let mut genesis = GenesisDoc::load(&path)?;
    add_account_to(&mut genesis, &address, &coins, args.append)
        .with_context(|| format!("editing {}", path.display()))?;
    genesis.save(&path)?;
    println!("added {coins} to {address} in {}", path.display());
    Ok(())
}

/// A bech32 address as is; anything else is a key name looked up in the keyring.
fn resolve_address(
    home: &std::path::Path,
    address_or_key: &str,
    backend: Option<&str>,
) -> anyhow::Result<Address> {
    let not_an_address = match address_or_key.parse::<Address>() {
        Ok(addr) => return Ok(addr),
        Err(e) => e,
    };
    let backend = ballast_client::keyring::input::resolve_backend(backend)?;
    // Showing a key needs no passphrase, in either backend.
    let keyring = ballast_client::keyring::Keyring::open(home, backend, None)?;
    let info = keyring.show(address_or_key).map_err(|e| {
        anyhow::anyhow!(
            "{address_or_key:?} is neither an address ({not_an_address}) nor a key in the \
             {backend} keyring ({e})"
        )
    })?;
    info.address
        .parse::<Address>()
        .with_context(|| format!("the keyring's address {:?} does not parse", info.address))
}

/// Parses `1000000ubal,5stake`: each coin an amount followed by a denom, amounts positive,
/// denoms valid and distinct.
pub fn parse_coins(s: &str) -> anyhow::Result<Coins> {
    let mut list = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let digits = part.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits == part.len() {
            anyhow::bail!(
                "invalid coin {part:?} in {s:?}: expected an amount followed by a denom, such as 1000ubal"
            );
        }
        let (amount, denom) = part.split_at(digits);
        list.push(cosmrs::proto::cosmos::base::v1beta1::Coin {
            denom: denom.to_string(),
            amount: amount.to_string(),
        });
    }
    let coins = Coins::from_proto(&list).with_context(|| format!("invalid coins {s:?}"))?;
    if coins.is_empty() {
        anyhow::bail!("expected at least one coin, found {s:?}");
    }
    Ok(coins)
}

/// Adds `address` with `coins` to the accounts section, or with `append` adds the coins to the
/// existing account; the edited section must still parse.
pub fn add_account_to(
    genesis: &mut GenesisDoc,
    address: &Address,
    coins: &Coins,
    append: bool,
) -> anyhow::Result<()> {
    let section = genesis
        .app_state
        .get(ballast_accounts::MODULE_NAME)
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let mut state = GenesisState::from_json(&section).map_err(|e| {
        anyhow::anyhow!(
            "app_state.{} is invalid: {e}",
            ballast_accounts::MODULE_NAME
        )
    })?;
    let addr = address.to_string();
    match state.accounts.iter_mut().find(|a| a.address == addr) {
        Some(_) if !append => anyhow::bail!(
            "account {addr} is already in genesis; pass --append to add {coins} to its balances"
        ),
        Some(existing) => existing.coins = merge(&existing.coins, coins)?,
        None => state.accounts.push(GenesisAccount {
            address: addr,
            coins: coins.iter().map(|c| genesis_coin(&c)).collect(),
        }),
    }
    let obj = genesis
        .app_state
        .as_object_mut()
        .context("app_state is not a JSON object")?;
    obj.insert(
        ballast_accounts::MODULE_NAME.to_string(),
        serde_json::to_value(&state).context("serialising the accounts section")?,
    );
    Ok(())
}

fn genesis_coin(c: &Coin) -> GenesisCoin {
    GenesisCoin {
        denom: c.denom.clone(),
        amount: c.amount.to_string(),
    }
}

/// `existing + extra`, checked, in denom order.
fn merge(existing: &[GenesisCoin], extra: &Coins) -> anyhow::Result<Vec<GenesisCoin>> {
    let mut sum: BTreeMap<String, u128> = BTreeMap::new();
    for c in existing {
        let amount: u128 = c.amount.parse().with_context(|| {
            format!(
                "existing amount {:?} of {} is not an unsigned integer",
                c.amount, c.denom
            )
        })?;
        sum.insert(c.denom.clone(), amount);
    }
    for c in extra.iter() {
        let total = sum.entry(c.denom.clone()).or_insert(0);
        *total = total
            .checked_add(c.amount)
            .with_context(|| format!("adding {c} overflows the account's {} balance", c.denom))?;
    }
    Ok(sum
        .into_iter()
        .map(|(denom, amount)| GenesisCoin {
            denom,
            amount: amount.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> GenesisDoc {
        GenesisDoc::new("c-1", Vec::new(), ballast_app::genesis::default_app_state())
    }

    #[test]
    fn coins_parse_and_bad_coins_are_rejected() {
        let c = parse_coins("1000000ubal,5stake").expect("valid");
        assert_eq!(c.amount_of("ubal"), 1_000_000);
        assert_eq!(c.amount_of("stake"), 5);
        for bad in [
            "",
            "ubal",
            "100",
            "0ubal",
            "10ubal,10ubal",
            "10u",
            "-5ubal",
            "1.5ubal",
            "10ubal,",
            "99999999999999999999999999999999999999999ubal",
        ] {
            assert!(parse_coins(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn accounts_are_added_refused_twice_and_appended() {
        let mut g = doc();
        let a = Address([7; 20]);
        add_account_to(&mut g, &a, &parse_coins("10ubal").expect("ok"), false).expect("add");
        let e = add_account_to(&mut g, &a, &parse_coins("5ubal").expect("ok"), false)
            .expect_err("twice");
        assert!(e.to_string().contains("--append"), "{e}");
        add_account_to(&mut g, &a, &parse_coins("5ubal,3stake").expect("ok"), true)
            .expect("append");
        let accounts = &g.app_state["accounts"]["accounts"];
        assert_eq!(
            accounts,
            &serde_json::json!([{ "address": a.to_string(), "coins": [
                { "denom": "stake", "amount": "3" }, { "denom": "ubal", "amount": "15" }
            ]}])
        );
        let max = format!("{}ubal", u128::MAX);
        assert!(add_account_to(&mut g, &a, &parse_coins(&max).expect("ok"), true).is_err());
    }
}
