//! Gas metering: every state access a tx makes is charged against its gas limit.

use crate::{Event, KvIter, StateError, StateRead, StateWrite};
use std::cell::Cell;

/// The gas schedule (a copy of the accounts module's params, in force for the block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasCosts {
    /// Per byte of the encoded tx.
    pub tx_size_per_byte: u64,
    /// Per read.
    pub read_flat: u64,
    /// Per byte read.
    pub read_per_byte: u64,
    /// Per write.
    pub write_flat: u64,
    /// Per byte of key and value written.
    pub write_per_byte: u64,
    /// Per delete.
    pub delete: u64,
    /// Per entry returned by an iteration.
    pub iter_next: u64,
    /// Per secp256k1 signature check.
    pub sig_verify_secp256k1: u64,
}

/// Counts gas against a limit. Charging past the limit fails and leaves `used` above the limit,
/// so the result reports how much the tx tried to use.
#[derive(Debug)]
pub struct GasMeter {
    limit: u64,
    used: Cell<u64>,
}

impl GasMeter {
    /// A meter with `limit`.
    pub fn new(limit: u64) -> Self {
        GasMeter {
            limit,
            used: Cell::new(0),
        }
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Gas used so far (may exceed the limit after an out-of-gas failure).
    pub fn used(&self) -> u64 {
        self.used.get()
    }

    /// Charges `amount`; fails when the total passes the limit.
    pub fn consume(&self, amount: u64) -> Result<(), StateError> {
        let needed = self.used.get().saturating_add(amount);
        self.used.set(needed);
        if needed > self.limit {
            return Err(StateError::OutOfGas {
                limit: self.limit,
                needed,
            });
        }
        Ok(())
    }
}

/// A state wrapper that charges every access to a [`GasMeter`].
pub struct Metered<'m, S> {
    inner: S,
    meter: &'m GasMeter,
    costs: GasCosts,
}

impl<'m, S> Metered<'m, S> {
    /// Wraps `inner`.
    pub fn new(inner: S, meter: &'m GasMeter, costs: GasCosts) -> Self {
        Metered {
            inner,
            meter,
            costs,
        }
    }

    /// Unwraps.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<S: StateRead> StateRead for Metered<'_, S> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.meter.consume(self.costs.read_flat)?;
        let v = self.inner.get_raw(key)?;
        let n = v.as_ref().map_or(0, |v| v.len());
        self.meter
            .consume(self.costs.read_per_byte.saturating_mul(len_u64(n)))?;
        Ok(v)
    }

    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        if let Err(e) = self.meter.consume(self.costs.read_flat) {
            return Box::new(std::iter::once(Err(e)));
        }
        let meter = self.meter;
        let costs = self.costs;
        Box::new(self.inner.prefix_raw(prefix).map(move |r| {
            let (k, v) = r?;
            meter.consume(
                costs
                    .iter_next
                    .saturating_add(costs.read_per_byte.saturating_mul(len_u64(v.len()))),
            )?;
            Ok((k, v))
        }))
    }
}

impl<S: StateWrite> StateWrite for Metered<'_, S> {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
        let bytes = len_u64(key.len().saturating_add(value.len()));
        self.meter.consume(
            self.costs
                .write_flat
                .saturating_add(self.costs.write_per_byte.saturating_mul(bytes)),
        )?;
        self.inner.put_raw(key, value)
    }
    fn delete(&mut self, key: Vec<u8>) -> Result<(), StateError> {
        self.meter.consume(self.costs.delete)?;
        self.inner.delete(key)
    }
    fn emit_event(&mut self, event: Event) {
        self.inner.emit_event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemState;

    const COSTS: GasCosts = GasCosts {
        tx_size_per_byte: 10,
        read_flat: 100,
        read_per_byte: 1,
        write_flat: 200,
        write_per_byte: 2,
        delete: 50,
        iter_next: 5,
        sig_verify_secp256k1: 1000,
    };

    #[test]
    fn charges_reads_writes_and_iteration() {
        let meter = GasMeter::new(10_000);
        let mut s = Metered::new(MemState::new(), &meter, COSTS);
        s.put_raw(b"ab".to_vec(), b"xyz".to_vec()).unwrap();
        assert_eq!(meter.used(), 200 + 2 * 5);
        s.get_raw(b"ab").unwrap();
        assert_eq!(meter.used(), 210 + 100 + 3);
        let n = s.prefix_raw(b"a").count();
        assert_eq!(n, 1);
        assert_eq!(meter.used(), 313 + 100 + 5 + 3);
        s.delete(b"ab".to_vec()).unwrap();
        assert_eq!(meter.used(), 421 + 50);
    }

    #[test]
    fn out_of_gas_is_reported_with_the_amount_needed() {
        let meter = GasMeter::new(250);
        let mut s = Metered::new(MemState::new(), &meter, COSTS);
        let err = s.put_raw(b"k".to_vec(), vec![0; 100]).unwrap_err();
        assert_eq!(
            err,
            StateError::OutOfGas {
                limit: 250,
                needed: 200 + 2 * 101
            }
        );
        assert!(meter.used() > meter.limit());
    }
}
