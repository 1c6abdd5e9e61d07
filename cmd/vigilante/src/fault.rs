//! Crash injection for restart-safety tests: `BALLAST_VIGILANTE_FAULT=<point>` makes the
//! process kill itself with SIGKILL the first time it reaches that point. Never set it in
//! production.

/// Environment variable naming the fault point.
pub const FAULT_ENV: &str = "BALLAST_VIGILANTE_FAULT";

/// Where the process may be told to die.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// After a new attempt is persisted, before anything is broadcast.
    AfterPersist,
    /// After tx1 is broadcast, before tx2 is.
    AfterTx1,
    /// After both txs are broadcast, before the broadcast height is recorded.
    AfterTx2,
}

impl FaultPoint {
    /// Parses `after-persist`, `after-tx1` or `after-tx2`.
    pub fn parse(s: &str) -> Result<FaultPoint, String> {
        match s {
            "after-persist" => Ok(FaultPoint::AfterPersist),
            "after-tx1" => Ok(FaultPoint::AfterTx1),
            "after-tx2" => Ok(FaultPoint::AfterTx2),
            other => Err(format!(
                "{FAULT_ENV}={other:?}: expected after-persist, after-tx1 or after-tx2"
            )),
        }
    }

    /// The fault point set in the environment, if any.
    pub fn from_env() -> Result<Option<FaultPoint>, String> {
        match std::env::var(FAULT_ENV) {
            Ok(s) if !s.is_empty() => FaultPoint::parse(&s).map(Some),
            _ => Ok(None),
        }
    }
}

/// Kills this process with SIGKILL if `point` is the configured fault: no destructors, no
/// flushing, exactly like `kill -9`.
pub fn maybe_die(configured: Option<FaultPoint>, point: FaultPoint) {
    if configured != Some(point) {
        return;
    }
    tracing::warn!(?point, "fault injection: killing the process with SIGKILL");
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    // `kill` was unavailable: abort, which also skips every destructor.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_points_parse_and_junk_is_refused() {
        assert_eq!(FaultPoint::parse("after-tx1"), Ok(FaultPoint::AfterTx1));
        assert_eq!(FaultPoint::parse("after-tx2"), Ok(FaultPoint::AfterTx2));
        assert_eq!(
            FaultPoint::parse("after-persist"),
            Ok(FaultPoint::AfterPersist)
        );
        assert!(FaultPoint::parse("sometime").is_err());
        // Not configured: nothing happens.
        maybe_die(None, FaultPoint::AfterTx1);
        maybe_die(Some(FaultPoint::AfterTx2), FaultPoint::AfterTx1);
    }
}
