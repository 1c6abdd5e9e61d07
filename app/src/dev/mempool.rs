//! The dev chain's mempool, with CometBFT v0.38's rules: a tx is admitted after CheckTx (type
//! New) passes, kept in arrival order, reaped in order up to the block's byte and gas limits,
//! removed when committed and rechecked (type Recheck) after every block, and evicted when the
//! recheck fails. A cache of recently seen tx hashes rejects duplicates, committed txs
//! included, with CometBFT's message "tx already exists in cache".

use prost::bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};

/// Codespace of the errors below (the tx pipeline's).
pub const CODESPACE: &str = ballast_framework::sdk::CODESPACE;
/// The tx is already in the mempool cache (Cosmos SDK's `ErrTxInMempoolCache`).
pub const TX_IN_MEMPOOL_CACHE: u32 = 19;
/// The mempool is full (Cosmos SDK's `ErrMempoolIsFull`).
pub const MEMPOOL_IS_FULL: u32 = 20;
/// The tx is larger than the mempool accepts (Cosmos SDK's `ErrTxTooLarge`).
pub const TX_TOO_LARGE: u32 = ballast_framework::sdk::TX_TOO_LARGE;

/// How many recently seen tx hashes the duplicate cache keeps (CometBFT's default).
pub const CACHE_SIZE: usize = 10_000;
/// The largest tx accepted (CometBFT's default `max_tx_bytes`).
pub const MAX_TX_BYTES: usize = 1_048_576;

/// Why a tx was not admitted before CheckTx ran. The messages are CometBFT's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same tx was seen recently (in the mempool or committed).
    #[error("tx already exists in cache")]
    InCache,
    /// The mempool holds its maximum number of txs or bytes.
    #[error("mempool is full: number of txs {txs} (max: {max_txs}), total txs bytes {bytes} (max: {max_bytes})")]
    Full {
        /// Txs held.
        txs: usize,
        /// The cap on txs.
        max_txs: usize,
        /// Bytes held.
        bytes: usize,
        /// The cap on bytes.
        max_bytes: usize,
    },
    /// The tx is larger than [`MAX_TX_BYTES`].
    #[error("Tx too large. Max size is {max}, but got {got}")]
    TooLarge {
        /// The limit.
        max: usize,
        /// The tx's size.
        got: usize,
    },
}

impl MempoolError {
    /// The ABCI-style code of this error, in [`CODESPACE`].
    pub fn code(&self) -> u32 {
        match self {
            MempoolError::InCache => TX_IN_MEMPOOL_CACHE,
            MempoolError::Full { .. } => MEMPOOL_IS_FULL,
            MempoolError::TooLarge { .. } => TX_TOO_LARGE,
        }
    }
}

/// A tx waiting for a block.
#[derive(Clone, Debug)]
pub struct MempoolTx {
    /// The tx bytes.
    pub tx: Bytes,
    /// SHA-256 of the tx.
    pub hash: [u8; 32],
    /// Gas wanted, from CheckTx.
    pub gas_wanted: i64,
}

/// Recently seen tx hashes, oldest evicted first.
#[derive(Default)]
struct Cache {
    order: VecDeque<[u8; 32]>,
    set: BTreeSet<[u8; 32]>,
}

impl Cache {
    /// Adds `h`; false if it was already there.
    fn push(&mut self, h: [u8; 32]) -> bool {
        if !self.set.insert(h) {
            return false;
        }
        self.order.push_back(h);
        while self.order.len() > CACHE_SIZE {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn remove(&mut self, h: &[u8; 32]) {
        if self.set.remove(h) {
            self.order.retain(|x| x != h);
        }
    }
}

/// The mempool.
pub struct Mempool {
    txs: VecDeque<MempoolTx>,
    bytes: usize,
    cache: Cache,
    max_txs: usize,
    max_bytes: usize,
}

/// Bytes a varint takes.
fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// The protobuf size of one tx inside the block's `Data` message.
fn proto_size(tx_len: usize) -> usize {
    1 + varint_len(tx_len as u64) + tx_len
}

impl Mempool {
    /// An empty mempool holding at most `max_txs` txs and `max_bytes` bytes.
    pub fn new(max_txs: usize, max_bytes: usize) -> Mempool {
        Mempool {
            txs: VecDeque::new(),
            bytes: 0,
            cache: Cache::default(),
            max_txs,
            max_bytes,
        }
    }

    /// Number of txs held.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether the mempool is empty.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Total bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn full_error(&self, extra: usize) -> Option<MempoolError> {
        (self.txs.len() >= self.max_txs || self.bytes.saturating_add(extra) > self.max_bytes)
            .then_some(MempoolError::Full {
                txs: self.txs.len(),
                max_txs: self.max_txs,
                bytes: self.bytes,
                max_bytes: self.max_bytes,
            })
    }

    /// The checks before CheckTx, in CometBFT's order: full, too large, seen. On success the
    /// hash is in the cache; call [`Mempool::admit`] or [`Mempool::reject`] with CheckTx's
    /// verdict.
    pub fn pre_check(&mut self, tx: &[u8], hash: [u8; 32]) -> Result<(), MempoolError> {
        if let Some(e) = self.full_error(tx.len()) {
            return Err(e);
        }
        if tx.len() > MAX_TX_BYTES {
            return Err(MempoolError::TooLarge {
                max: MAX_TX_BYTES,
                got: tx.len(),
            });
        }
        if !self.cache.push(hash) {
            return Err(MempoolError::InCache);
        }
        Ok(())
    }

    /// Adds a tx CheckTx accepted.
    pub fn admit(&mut self, tx: MempoolTx) -> Result<(), MempoolError> {
        if let Some(e) = self.full_error(tx.tx.len()) {
            self.cache.remove(&tx.hash);
            return Err(e);
        }
        self.bytes = self.bytes.saturating_add(tx.tx.len());
        self.txs.push_back(tx);
        Ok(())
    }

    /// Forgets a tx CheckTx rejected, so it may be sent again once fixed (e.g. funded).
    pub fn reject(&mut self, hash: &[u8; 32]) {
        self.cache.remove(hash);
    }

    /// The txs for the next block, in order, while their protobuf size stays within
    /// `max_data_bytes` and their gas within `max_gas` (-1: no gas limit).
    pub fn reap(&self, max_data_bytes: i64, max_gas: i64) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut size = 0i64;
        let mut gas = 0i64;
        for t in &self.txs {
            let s = i64::try_from(proto_size(t.tx.len())).unwrap_or(i64::MAX);
            if max_data_bytes > -1 && size.saturating_add(s) > max_data_bytes {
                break;
            }
            if max_gas > -1 && gas.saturating_add(t.gas_wanted) > max_gas {
                break;
            }
            size = size.saturating_add(s);
            gas = gas.saturating_add(t.gas_wanted);
            out.push(t.tx.clone());
        }
        out
    }

    /// After a commit: removes the block's txs (a committed tx that succeeded stays in the
    /// cache, a failed one leaves it) and returns the remaining txs to recheck, in order.
    pub fn update(&mut self, committed: &[([u8; 32], bool)]) -> Vec<Bytes> {
        for (h, ok) in committed {
            if *ok {
                self.cache.push(*h);
            } else {
                self.cache.remove(h);
            }
        }
        let gone: BTreeSet<[u8; 32]> = committed.iter().map(|(h, _)| *h).collect();
        self.txs.retain(|t| !gone.contains(&t.hash));
        self.bytes = self.txs.iter().map(|t| t.tx.len()).sum();
        self.txs.iter().map(|t| t.tx.clone()).collect()
    }

    /// Applies recheck verdicts (`keep[i]` for the i-th tx [`Mempool::update`] returned);
    /// evicted txs leave the cache. Returns how many were evicted.
    pub fn apply_recheck(&mut self, keep: &[bool]) -> usize {
        if keep.len() != self.txs.len() {
            return 0;
        }
        let mut evicted = 0;
        let mut kept = VecDeque::with_capacity(self.txs.len());
        for (t, k) in self.txs.drain(..).zip(keep) {
            if *k {
                kept.push_back(t);
            } else {
                self.cache.remove(&t.hash);
                evicted += 1;
            }
        }
        self.txs = kept;
        self.bytes = self.txs.iter().map(|t| t.tx.len()).sum();
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(b: u8, len: usize) -> MempoolTx {
        let tx = Bytes::from(vec![b; len]);
        MempoolTx {
            hash: [b; 32],
            tx,
            gas_wanted: 10,
        }
    }

    #[test]
    fn duplicates_full_and_oversized_txs_are_rejected_with_cometbft_messages() {
        let mut m = Mempool::new(2, 1000);
        let a = tx(1, 10);
        m.pre_check(&a.tx, a.hash).unwrap();
        m.admit(a.clone()).unwrap();
        assert_eq!(m.pre_check(&a.tx, a.hash), Err(MempoolError::InCache));
        assert_eq!(
            MempoolError::InCache.to_string(),
            "tx already exists in cache"
        );
        let b = tx(2, 10);
        m.pre_check(&b.tx, b.hash).unwrap();
        m.admit(b).unwrap();
        let c = tx(3, 10);
        let e = m.pre_check(&c.tx, c.hash).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mempool is full: number of txs 2 (max: 2), total txs bytes 20 (max: 1000)"
        );
        assert_eq!(e.code(), MEMPOOL_IS_FULL);
        let mut m = Mempool::new(10, 10_000_000);
        let big = tx(4, MAX_TX_BYTES + 1);
        assert!(matches!(
            m.pre_check(&big.tx, big.hash),
            Err(MempoolError::TooLarge { .. })
        ));
        // A rejected tx leaves the cache and may come back.
        let d = tx(5, 10);
        m.pre_check(&d.tx, d.hash).unwrap();
        m.reject(&d.hash);
        m.pre_check(&d.tx, d.hash).unwrap();
    }

    #[test]
    fn reap_keeps_order_and_limits_and_update_rechecks_the_rest() {
        let mut m = Mempool::new(10, 10_000);
        for i in 1..=4u8 {
            let t = tx(i, 100);
            m.pre_check(&t.tx, t.hash).unwrap();
            m.admit(t).unwrap();
        }
        let all = m.reap(-1, -1);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0][0], 1);
        assert_eq!(all[3][0], 4);
        // Each tx takes 1 + 1 + 100 bytes in Data (tag, length, bytes): two fit in 204.
        assert_eq!(m.reap(204, -1).len(), 2);
        assert_eq!(m.reap(203, -1).len(), 1);
        assert_eq!(proto_size(200), 203, "a 2-byte length from 128 on");
        assert_eq!(m.reap(-1, 25).len(), 2);
        let rest = m.update(&[([1; 32], true), ([2; 32], false)]);
        assert_eq!(rest.len(), 2);
        assert_eq!(m.bytes(), 200);
        // Committed and succeeded: still a duplicate. Committed and failed: may come back.
        assert_eq!(
            m.pre_check(&tx(1, 100).tx, [1; 32]),
            Err(MempoolError::InCache)
        );
        m.pre_check(&tx(2, 100).tx, [2; 32]).unwrap();
        assert_eq!(m.apply_recheck(&[true, false]), 1);
        assert_eq!(m.len(), 1);
        assert_eq!(m.reap(-1, -1)[0][0], 3);
        m.pre_check(&tx(4, 100).tx, [4; 32]).unwrap();
    }
}
