//! Every key the accounts module writes. Keys are API: they change only through a migration.

use ballast_framework::Address;

/// Prefix of every key of this module.
pub const PREFIX: &str = "accounts/";

/// The module's params.
pub fn params() -> &'static str {
    "accounts/params"
}

/// The next account number to assign.
pub fn next_account_number() -> &'static str {
    "accounts/next_account_number"
}

/// An account record.
pub fn account(addr: &Address) -> String {
    format!("accounts/account/{}", addr.to_hex())
}

/// Prefix of every account record.
pub fn accounts_prefix() -> &'static str {
    "accounts/account/"
}

/// One balance of an account.
pub fn balance(addr: &Address, denom: &str) -> String {
    format!("accounts/balance/{}/{denom}", addr.to_hex())
}

/// Prefix of every balance of an account, in denom order.
pub fn balances_prefix(addr: &Address) -> String {
    format!("accounts/balance/{}/", addr.to_hex())
}

/// Total supply of a denom.
pub fn supply(denom: &str) -> String {
    format!("accounts/supply/{denom}")
}

/// Prefix of every supply record.
pub fn supply_prefix() -> &'static str {
    "accounts/supply/"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_under_the_module_prefix_and_balances_group_by_account() {
        let a = Address([1; 20]);
        let b = Address([2; 20]);
        for k in [
            account(&a),
            balance(&a, "ubal"),
            supply("ubal"),
            params().to_string(),
            next_account_number().to_string(),
        ] {
            assert!(k.starts_with(PREFIX), "{k}");
        }
        assert!(balance(&a, "ubal").starts_with(&balances_prefix(&a)));
        assert!(!balance(&b, "ubal").starts_with(&balances_prefix(&a)));
        // Hex addresses have a fixed width, so lexical order is address order.
        assert!(balance(&a, "zzz") < balance(&b, "aaa"));
    }
}
