//! What the reporter needs from the two chains, as traits, and the searches over them.
//!
//! - [`BtcChain`]: bitcoind's best chain (implemented by [`crate::btc::BtcRpc`]).
//! - [`LightClientView`]: which headers Ballast's light client knows (implemented by
//!   [`crate::ballast::Ballast`]).
//! - [`highest_known`]: the fork point — the highest height of bitcoind's best chain whose
//!   header the light client knows. Headers above it are what the light client is missing.
//! - [`ScanIndex`]: the blocks of bitcoind's best chain that were scanned for checkpoint parts,
//!   rolled back and re-scanned across reorgs.

use crate::scan::{self, FoundPart};
use ballast_checkpointing::encoding::CheckpointTag;
use bitcoin::{Block, BlockHash};
use std::collections::VecDeque;
use std::future::Future;

/// bitcoind's best chain.
pub trait BtcChain {
    /// The error of a call.
    type Error: std::fmt::Display + Send;
    /// Height and hash of the best block.
    fn best(&self) -> impl Future<Output = Result<(u64, BlockHash), Self::Error>> + Send;
    /// The best chain's block hash at `height`, `None` above the tip.
    fn hash_at(
        &self,
        height: u64,
    ) -> impl Future<Output = Result<Option<BlockHash>, Self::Error>> + Send;
    /// The full block.
    fn block(&self, hash: BlockHash) -> impl Future<Output = Result<Block, Self::Error>> + Send;
}

/// Which headers Ballast's light client knows.
pub trait LightClientView {
    /// The error of a call.
    type Error: std::fmt::Display + Send;
    /// Whether it knows the header (on its best chain or on a fork).
    fn contains(&self, hash: BlockHash) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// Why the fork point could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ForkPointError {
    /// bitcoind failed.
    #[error("bitcoind: {0}")]
    Btc(String),
    /// Ballast failed.
    #[error("ballast: {0}")]
    Ballast(String),
    /// bitcoind's best chain has no block at a height it reported (it reorged meanwhile).
    #[error("bitcoind's best chain changed during the search (no block at height {0})")]
    ChainMoved(u64),
    /// The light client's base header is not on bitcoind's best chain.
    #[error("bitcoind's block at the light client's base height {base_height} is {found}, which the light client does not know: bitcoind follows another chain than Ballast's base header")]
    BaseNotOnChain {
        /// The base height.
        base_height: u64,
        /// bitcoind's block there.
        found: BlockHash,
    },
}

async fn known_at<C: BtcChain, L: LightClientView>(
    btc: &C,
    lc: &L,
    height: u64,
) -> Result<(bool, BlockHash), ForkPointError> {
    let hash = btc
        .hash_at(height)
        .await
        .map_err(|e| ForkPointError::Btc(e.to_string()))?
        .ok_or(ForkPointError::ChainMoved(height))?;
    let known = lc
        .contains(hash)
        .await
        .map_err(|e| ForkPointError::Ballast(e.to_string()))?;
    Ok((known, hash))
}

/// The highest height in `base_height..=tip_height` whose block on bitcoind's best chain the
/// light client knows. The light client knows every ancestor of a header it knows, so the
/// known heights are a prefix: the search probes the tip, then gallops down (1, 2, 4, …
/// below it) to a known height and bisects. The steady state (nothing or a few headers
/// missing) costs a few queries; a light client far behind costs O(log n).
pub async fn highest_known<C: BtcChain, L: LightClientView>(
    btc: &C,
    lc: &L,
    base_height: u64,
    tip_height: u64,
) -> Result<u64, ForkPointError> {
    let (base_known, base_hash) = known_at(btc, lc, base_height).await?;
    if !base_known {
        return Err(ForkPointError::BaseNotOnChain {
            base_height,
            found: base_hash,
        });
    }
    if tip_height <= base_height || known_at(btc, lc, tip_height).await?.0 {
        return Ok(tip_height.max(base_height));
    }
    // Invariant: `lo` is known, `hi` is not.
    let mut hi = tip_height;
    let mut step = 1u64;
    let mut lo = loop {
        let probe = tip_height.saturating_sub(step).max(base_height);
        if probe == base_height || known_at(btc, lc, probe).await?.0 {
            break probe;
        }
        hi = probe;
        step = step.saturating_mul(2);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if known_at(btc, lc, mid).await?.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// One scanned block.
#[derive(Clone, Debug)]
pub struct ScannedBlock {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: BlockHash,
    /// The checkpoint parts in it.
    pub parts: Vec<FoundPart>,
}

/// What one [`ScanIndex::sync`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Blocks dropped because bitcoind's best chain no longer has them.
    pub rolled_back: u64,
    /// Blocks scanned.
    pub scanned: u64,
    /// Parts found in them.
    pub parts_found: u64,
}

/// A window of bitcoind's best chain, scanned for checkpoint parts: contiguous heights, each
/// with its hash, so that a reorg is noticed as a hash that changed.
#[derive(Clone, Debug, Default)]
pub struct ScanIndex {
    blocks: VecDeque<ScannedBlock>,
}

impl ScanIndex {
    /// An empty index.
    pub fn new() -> Self {
        ScanIndex::default()
    }

    /// The highest scanned block.
    pub fn top(&self) -> Option<&ScannedBlock> {
        self.blocks.back()
    }

    /// Scanned blocks, lowest first.
    pub fn blocks(&self) -> impl Iterator<Item = &ScannedBlock> {
        self.blocks.iter()
    }

    /// Every part found in the window.
    pub fn parts(&self) -> Vec<FoundPart> {
        self.blocks
            .iter()
            .flat_map(|b| b.parts.iter().cloned())
            .collect()
    }

    /// Brings the window up to bitcoind's tip: drops blocks that left the best chain, then
    /// scans the new ones, starting at `start_height` when the window is empty. Keeps at most
    /// `keep` blocks below the tip.
    pub async fn sync<C: BtcChain>(
        &mut self,
        btc: &C,
        tag: CheckpointTag,
        start_height: u64,
        keep: u64,
    ) -> Result<SyncOutcome, C::Error> {
        let mut out = SyncOutcome::default();
        let (tip_height, _) = btc.best().await?;
        // Roll back: drop the top while bitcoind has another block (or none) at its height.
        while let Some(top) = self.blocks.back() {
            if top.height <= tip_height && btc.hash_at(top.height).await? == Some(top.hash) {
                break;
            }
            self.blocks.pop_back();
            out.rolled_back += 1;
        }
        let mut next = match self.blocks.back() {
            Some(top) => top.height + 1,
            None => start_height,
        };
        while next <= tip_height {
            let Some(hash) = btc.hash_at(next).await? else {
                break;
            };
            let block = btc.block(hash).await?;
            if let Some(top) = self.blocks.back() {
                if block.header.prev_blockhash != top.hash {
                    // bitcoind reorged while scanning; the next sync rolls back.
                    break;
                }
            }
            let parts = scan::parts_in_block(&block, next, tag);
            out.parts_found += parts.len() as u64;
            out.scanned += 1;
            self.blocks.push_back(ScannedBlock {
                height: next,
                hash,
                parts,
            });
            next += 1;
        }
        while self.blocks.len() as u64 > keep.max(1) {
            self.blocks.pop_front();
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scan::tests::{block, pair_txs, raw};
    use ballast_framework::Address;
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, Txid};
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    /// A fake bitcoind: a best chain of blocks (index = height).
    #[derive(Default)]
    pub(crate) struct FakeChain {
        pub blocks: Mutex<Vec<Block>>,
    }

    impl FakeChain {
        pub fn with(n: usize) -> Self {
            let c = FakeChain::default();
            c.extend(n, 0);
            c
        }
        /// Adds `n` empty blocks; `salt` makes a fork's blocks differ.
        pub fn extend(&self, n: usize, salt: u32) {
            let mut b = self.blocks.lock().unwrap();
            for _ in 0..n {
                let prev = b
                    .last()
                    .map(|x| x.block_hash())
                    .unwrap_or(BlockHash::all_zeros());
                let mut blk = block(prev, vec![]);
                blk.header.nonce = salt;
                b.push(blk);
            }
        }
        pub fn push(&self, txs: Vec<bitcoin::Transaction>) {
            let mut b = self.blocks.lock().unwrap();
            let prev = b
                .last()
                .map(|x| x.block_hash())
                .unwrap_or(BlockHash::all_zeros());
            b.push(block(prev, txs));
        }
        /// Drops every block from `height` up (a reorg's first half).
        pub fn truncate(&self, height: usize) {
            self.blocks.lock().unwrap().truncate(height);
        }
        pub fn hash(&self, h: usize) -> BlockHash {
            self.blocks.lock().unwrap()[h].block_hash()
        }
    }

    impl BtcChain for FakeChain {
        type Error = String;
        async fn best(&self) -> Result<(u64, BlockHash), String> {
            let b = self.blocks.lock().unwrap();
            let last = b.last().ok_or("empty chain")?;
            Ok((b.len() as u64 - 1, last.block_hash()))
        }
        async fn hash_at(&self, height: u64) -> Result<Option<BlockHash>, String> {
            Ok(self
                .blocks
                .lock()
                .unwrap()
                .get(height as usize)
                .map(Block::block_hash))
        }
        async fn block(&self, hash: BlockHash) -> Result<Block, String> {
            self.blocks
                .lock()
                .unwrap()
                .iter()
                .find(|b| b.block_hash() == hash)
                .cloned()
                .ok_or_else(|| format!("no block {hash}"))
        }
    }

    /// A fake light client: the set of known hashes, counting queries.
    #[derive(Default)]
    pub(crate) struct FakeLightClient {
        pub known: Mutex<BTreeSet<BlockHash>>,
        pub queries: AtomicU64,
    }

    impl FakeLightClient {
        fn knowing(chain: &FakeChain, up_to: usize) -> Self {
            let lc = FakeLightClient::default();
            for h in 0..=up_to {
                lc.known.lock().unwrap().insert(chain.hash(h));
            }
            lc
        }
    }

    impl LightClientView for FakeLightClient {
        type Error = String;
        async fn contains(&self, hash: BlockHash) -> Result<bool, String> {
            self.queries.fetch_add(1, Ordering::Relaxed);
            Ok(self.known.lock().unwrap().contains(&hash))
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_fork_point_is_the_highest_known_height_for_every_gap() {
        let chain = FakeChain::with(300);
        for known in [0usize, 1, 2, 3, 5, 64, 150, 254, 297, 298, 299] {
            let lc = FakeLightClient::knowing(&chain, known);
            let found = run(highest_known(&chain, &lc, 0, 299)).unwrap();
            assert_eq!(found, known as u64);
            let q = lc.queries.load(Ordering::Relaxed);
            assert!(q <= 2 + 2 * 9, "{q} queries for a gap of {}", 299 - known);
        }
        // Nothing missing: two queries (base and tip).
        let lc = FakeLightClient::knowing(&chain, 299);
        assert_eq!(run(highest_known(&chain, &lc, 0, 299)).unwrap(), 299);
        assert_eq!(lc.queries.load(Ordering::Relaxed), 2);
        // A base above 0.
        let lc = FakeLightClient::knowing(&chain, 120);
        lc.known.lock().unwrap().remove(&chain.hash(0));
        assert_eq!(run(highest_known(&chain, &lc, 100, 299)).unwrap(), 120);
    }

    #[test]
    fn a_fork_is_sent_from_the_last_common_block() {
        // The light client followed blocks 0..=40; bitcoind reorged at 31 onto a longer fork.
        let chain = FakeChain::with(41);
        let lc = FakeLightClient::knowing(&chain, 40);
        chain.truncate(31);
        chain.extend(15, 7);
        assert_eq!(run(highest_known(&chain, &lc, 0, 45)).unwrap(), 30);
        // Once the fork's first headers are known (on a fork of the light client), the search
        // continues above them.
        for h in 31..=35 {
            lc.known.lock().unwrap().insert(chain.hash(h));
        }
        assert_eq!(run(highest_known(&chain, &lc, 0, 45)).unwrap(), 35);
    }

    #[test]
    fn a_base_that_bitcoind_does_not_have_is_reported() {
        let chain = FakeChain::with(10);
        let lc = FakeLightClient::default();
        let err = run(highest_known(&chain, &lc, 0, 9)).unwrap_err();
        assert!(
            matches!(err, ForkPointError::BaseNotOnChain { base_height: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn the_scan_index_follows_reorgs_and_finds_parts_once() {
        let chain = FakeChain::with(5);
        let mut idx = ScanIndex::new();
        let o = run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 100)).unwrap();
        assert_eq!(
            o,
            SyncOutcome {
                rolled_back: 0,
                scanned: 4,
                parts_found: 0
            }
        );
        // A checkpoint's two txs in block 5.
        let (t1, t2) = pair_txs(
            &raw(2),
            Address([1; 20]),
            OutPoint::new(Txid::all_zeros(), 1),
        );
        chain.push(vec![t1, t2]);
        chain.extend(2, 0);
        let o = run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 100)).unwrap();
        assert_eq!(
            o,
            SyncOutcome {
                rolled_back: 0,
                scanned: 3,
                parts_found: 2
            }
        );
        assert_eq!(idx.parts().len(), 2);
        // Nothing new: nothing scanned.
        let o = run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 100)).unwrap();
        assert_eq!(o, SyncOutcome::default());
        // Reorg out block 5 and above; the new branch is longer and has no parts.
        chain.truncate(5);
        chain.extend(4, 9);
        let o = run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 100)).unwrap();
        assert_eq!(
            o,
            SyncOutcome {
                rolled_back: 3,
                scanned: 4,
                parts_found: 0
            }
        );
        assert!(idx.parts().is_empty());
        assert_eq!(idx.top().unwrap().height, 8);
        assert_eq!(idx.top().unwrap().hash, chain.hash(8));
        // A shorter chain (blocks invalidated, none mined yet) is followed too.
        chain.truncate(7);
        let o = run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 100)).unwrap();
        assert_eq!(o.rolled_back, 2);
        assert_eq!(idx.top().unwrap().height, 6);
        // The window keeps at most `keep` blocks.
        run(idx.sync(&chain, CheckpointTag::DEFAULT, 1, 3)).unwrap();
        let heights: Vec<u64> = idx.blocks().map(|b| b.height).collect();
        assert_eq!(heights, vec![4, 5, 6]);
    }
}
