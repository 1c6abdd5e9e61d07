//! Listeners of the light client's tip. Checkpointing (to confirm and finalize checkpoint
//! submissions) and restaking (to time BTC delegations) implement [`BtcLightClientHooks`]; the
//! app hands them to [`crate::BtcLightClientModule::with_hooks`].

use crate::TipChange;
use ballast_framework::{StateWrite, TxError};
use std::fmt;
use std::sync::Arc;

/// A listener of tip changes.
pub trait BtcLightClientHooks: Send + Sync {
    /// Called after a `MsgInsertHeaders` moved the tip (an extension or a reorg), in the same
    /// tx, after the light client's writes and events. An error fails the whole tx, so the
    /// headers are not inserted either.
    fn on_tip_change(&self, state: &mut dyn StateWrite, change: &TipChange) -> Result<(), TxError>;
}

/// The registered listeners, called in registration order.
#[derive(Clone, Default)]
pub struct HookList(Arc<[Arc<dyn BtcLightClientHooks>]>);

impl HookList {
    /// A list of listeners.
    pub fn new(hooks: Vec<Arc<dyn BtcLightClientHooks>>) -> Self {
        HookList(hooks.into())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every listener if the tip moved.
    pub fn run(&self, state: &mut dyn StateWrite, change: &TipChange) -> Result<(), TxError> {
        if !change.tip_changed() {
            return Ok(());
        }
        for h in self.0.iter() {
            h.on_tip_change(state, change)?;
        }
        Ok(())
    }
}

impl fmt::Debug for HookList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookList({} hooks)", self.0.len())
    }
}
