//! The fixed module order. InitChain, begin-block, end-block and end-epoch all walk this one
//! list, so the order is written down exactly once.

use ballast_accounts::AccountsModule;
use ballast_btclightclient::BtcLightClientModule;
use ballast_checkpointing::{CheckpointingBtcHooks, CheckpointingModule};
use ballast_consumers::ConsumersModule;
use ballast_framework::Module;
use ballast_restaking::RestakingModule;
use std::sync::Arc;

/// Module names in execution order, with why each is where it is:
/// - `accounts` first: every other module moves funds through it, and fees are taken before any
///   module's hook runs.
/// - `btclightclient` before `checkpointing`: checkpointing listens to the light client's tip
///   changes (its hooks run inside the light client's messages) and reads its tip.
/// - `restaking` after `btclightclient`: BTC delegations are proven against the light client and
///   expire by its tip. Before `checkpointing`: its end-epoch computes the next hub validator
///   set, from which the app takes checkpointing's next validator snapshot.
/// - `consumers` after `restaking`: its end-epoch reads the power snapshot restaking takes in its
///   own end-epoch, checks operators and pays consumer leases through restaking's reward index.
///   Its end-block continues the previous epoch's consumer processing (bounded per block).
/// - `checkpointing` records the hub height in its begin-block and opens the epoch's checkpoint
///   in its end-epoch.
pub const MODULE_ORDER: &[&str] = &[
    "accounts",
    "btclightclient",
    "restaking",
    "consumers",
    "checkpointing",
];

/// The modules, in [`MODULE_ORDER`].
pub fn all_modules() -> Vec<Box<dyn Module>> {
    let modules: Vec<Box<dyn Module>> = vec![
        Box::new(AccountsModule),
        Box::new(BtcLightClientModule::with_hooks(vec![Arc::new(
            CheckpointingBtcHooks,
        )])),
        Box::new(RestakingModule),
        Box::new(ConsumersModule),
        Box::new(CheckpointingModule),
    ];
    debug_assert_eq!(
        modules.iter().map(|m| m.name()).collect::<Vec<_>>(),
        MODULE_ORDER
    );
    modules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instantiated_modules_follow_the_declared_order() {
        let names: Vec<&str> = all_modules().iter().map(|m| m.name()).collect();
        assert_eq!(names, MODULE_ORDER);
    }
}
