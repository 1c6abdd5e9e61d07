//! The header chain: validation of incoming headers against state, storage, and most-work fork
//! choice.
//!
//! Headers arrive as [`UncheckedHeaders`] (statelessly checked: 1 to
//! [`HEADERS_PER_MSG_HARD_LIMIT`] headers, each building on the one before). [`insert_headers`]
//! checks them against state ([`UncheckedHeaders::check`] gives [`CheckedHeaders`]), writes
//! them, moves the tip if their chain has more work, and returns the [`TipChange`].
//!
//! # Rules, per new header
//!
//! 1. A prefix of headers the light client already knows is skipped. If every header is known
//!    the message fails ([`BtcLightClientError::NoNewHeaders`]). A known header cannot follow a
//!    new one (its hash commits to its parent), so "known" is always a prefix.
//! 2. The first new header's parent must be known: the tip, any best-chain header, or a fork
//!    header ([`BtcLightClientError::UnknownParent`]).
//! 3. `bits` must be what Bitcoin Core's `GetNextWorkRequired` gives on the header's own branch
//!    ([`crate::pow::next_bits`]), and the hash must meet that target.
//! 4. The time must be later than the median of the previous 11 timestamps on the branch. When
//!    the base header is not the network's genesis, the first 10 headers above the base have
//!    fewer than 11 known ancestors and this check is skipped for them (a median over fewer
//!    timestamps could reject a valid header). With the genesis as base, Bitcoin's own rule of
//!    using the available ancestors applies.
//! 5. Testnet4 (BIP94): a period's first header may not be more than 600 s before its parent.
//! 6. The version must meet BIP34/66/65 at the header's height.
//!
//! Not checked: the two-hour future-time limit (it depends on each node's clock) and signet's
//! block signature (it lives in the coinbase, not the header).
//!
//! # Fork choice and bounded work
//!
//! The tip is the header with the most cumulative work; on a tie the current tip stays. A
//! message's headers form one chain, so only its last header can become the tip. Work per
//! message is linear in the number of headers (one record write and one best-chain write each,
//! at most 11 ancestor reads for the median-time window) plus, on a reorg, linear in the number
//! of blocks rolled back and forward. A reorg cannot be deeper than the branches someone has
//! paid to submit and out-worked the best chain with, and every read and write is gas-metered.

use crate::error::corrupt;
use crate::network::{BtcNetwork, MAX_TIMEWARP, MEDIAN_TIME_SPAN, RETARGET_INTERVAL};
use crate::pow::{self, ParentInfo};
use crate::work::ChainWork;
use crate::{params, state_key, BlockRef, BtcLightClientError, HeaderInfo, TipChange};
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::btclightclient::v1 as pb;
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use std::collections::VecDeque;

/// The most headers any message may carry, whatever the params say (params are validated
/// against it). It bounds decoding before params are read.
pub const HEADERS_PER_MSG_HARD_LIMIT: u32 = 10_000;

/// Size of a serialized header.
pub const HEADER_SIZE: usize = 80;

/// A stored header with what the difficulty rules need from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) info: HeaderInfo,
    pub(crate) period_start_time: u32,
    pub(crate) period_start_bits: u32,
    pub(crate) last_regular_bits: u32,
}

impl Record {
    /// The record of a base header: it starts its own period.
    pub(crate) fn base(info: HeaderInfo) -> Record {
        Record {
            period_start_time: info.header.time,
            period_start_bits: info.header.bits.to_consensus(),
            last_regular_bits: info.header.bits.to_consensus(),
            info,
        }
    }

    fn parent_info(&self) -> ParentInfo {
        ParentInfo {
            height: self.info.height,
            time: self.info.header.time,
            bits: self.info.header.bits.to_consensus(),
            period_start_time: self.period_start_time,
            period_start_bits: self.period_start_bits,
            last_regular_bits: self.last_regular_bits,
        }
    }

    pub(crate) fn to_proto(&self) -> pb::HeaderRecord {
        pb::HeaderRecord {
            header: bitcoin::consensus::serialize(&self.info.header),
            height: self.info.height,
            cumulative_work: self.info.cumulative_work.to_be_bytes().to_vec(),
            period_start_time: self.period_start_time,
            period_start_bits: self.period_start_bits,
            last_regular_bits: self.last_regular_bits,
        }
    }

    pub(crate) fn from_proto(p: &pb::HeaderRecord) -> Result<Record, BtcLightClientError> {
        let header: Header = decode_header(&p.header)
            .ok_or_else(|| corrupt("stored btclightclient header is not 80 bytes"))?;
        let work: [u8; 32] = p
            .cumulative_work
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("stored btclightclient cumulative work is not 32 bytes"))?;
        Ok(Record {
            info: HeaderInfo {
                hash: header.block_hash(),
                height: p.height,
                header,
                cumulative_work: ChainWork::from_be_bytes(work),
            },
            period_start_time: p.period_start_time,
            period_start_bits: p.period_start_bits,
            last_regular_bits: p.last_regular_bits,
        })
    }
}

/// Decodes exactly 80 bytes as a header.
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    if bytes.len() != HEADER_SIZE {
        return None;
    }
    bitcoin::consensus::deserialize(bytes).ok()
}

// ---- storage ------------------------------------------------------------------------------

pub(crate) fn load_record<S: StateRead + ?Sized>(
    state: &S,
    hash: &BlockHash,
) -> Result<Option<Record>, BtcLightClientError> {
    match state.get_proto::<pb::HeaderRecord>(state_key::header(hash))? {
        None => Ok(None),
        Some(p) => {
            let r = Record::from_proto(&p)?;
            if r.info.hash != *hash {
                return Err(corrupt(format!(
                    "header record under {hash} holds header {}",
                    r.info.hash
                )));
            }
            Ok(Some(r))
        }
    }
}

pub(crate) fn put_record<S: StateWrite + ?Sized>(
    state: &mut S,
    r: &Record,
) -> Result<(), BtcLightClientError> {
    state.put_proto(state_key::header(&r.info.hash), &r.to_proto())?;
    Ok(())
}

fn read_hash<S: StateRead + ?Sized>(
    state: &S,
    key: &str,
) -> Result<Option<BlockHash>, BtcLightClientError> {
    match state.get_raw(key.as_bytes())? {
        None => Ok(None),
        Some(b) => {
            let arr: [u8; 32] = b
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(format!("{key} does not hold a 32-byte hash")))?;
            Ok(Some(BlockHash::from_byte_array(arr)))
        }
    }
}

pub(crate) fn put_hash<S: StateWrite + ?Sized>(
    state: &mut S,
    key: String,
    hash: &BlockHash,
) -> Result<(), BtcLightClientError> {
    state.put_raw(key.into_bytes(), hash.to_byte_array().to_vec())?;
    Ok(())
}

/// The best chain's hash at `height`.
pub(crate) fn main_hash_at<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
) -> Result<Option<BlockHash>, BtcLightClientError> {
    read_hash(state, &state_key::main_chain(height))
}

/// The tip's record; the light client always has one after genesis.
pub(crate) fn load_tip<S: StateRead + ?Sized>(state: &S) -> Result<Record, BtcLightClientError> {
    let hash = read_hash(state, state_key::tip())?
        .ok_or_else(|| corrupt("btclightclient tip missing: genesis was not applied"))?;
    load_record(state, &hash)?.ok_or_else(|| corrupt(format!("tip header {hash} missing")))
}

/// The base header's record.
pub(crate) fn load_base<S: StateRead + ?Sized>(state: &S) -> Result<Record, BtcLightClientError> {
    let hash = read_hash(state, state_key::base())?
        .ok_or_else(|| corrupt("btclightclient base missing: genesis was not applied"))?;
    load_record(state, &hash)?.ok_or_else(|| corrupt(format!("base header {hash} missing")))
}

// ---- unchecked → checked --------------------------------------------------------------------

/// Headers from outside, statelessly checked: 1 to [`HEADERS_PER_MSG_HARD_LIMIT`] of them,
/// each building on the one before. Nothing about them is known to hold against state yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UncheckedHeaders {
    headers: Vec<(Header, BlockHash)>,
}

impl UncheckedHeaders {
    /// Checks the count and that each header builds on the previous one.
    pub fn new(headers: Vec<Header>) -> Result<Self, BtcLightClientError> {
        check_count(headers.len())?;
        let mut out: Vec<(Header, BlockHash)> = Vec::with_capacity(headers.len());
        for (index, h) in headers.into_iter().enumerate() {
            let hash = h.block_hash();
            if let Some((_, prev_hash)) = out.last() {
                if h.prev_blockhash != *prev_hash {
                    return Err(BtcLightClientError::NotConsecutive {
                        index,
                        hash,
                        prev: h.prev_blockhash,
                        expected: *prev_hash,
                    });
                }
            }
            out.push((h, hash));
        }
        Ok(UncheckedHeaders { headers: out })
    }

    /// Parses raw headers (80 bytes each), then as [`UncheckedHeaders::new`].
    pub fn from_raw<B: AsRef<[u8]>>(raw: &[B]) -> Result<Self, BtcLightClientError> {
        check_count(raw.len())?;
        let mut headers = Vec::with_capacity(raw.len());
        for (index, b) in raw.iter().enumerate() {
            let b = b.as_ref();
            headers.push(decode_header(b).ok_or(BtcLightClientError::HeaderLength {
                index,
                len: b.len(),
            })?);
        }
        UncheckedHeaders::new(headers)
    }

    /// How many headers.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Always false: there is at least one header.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The headers, lowest first.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = &Header> {
        self.headers.iter().map(|(h, _)| h)
    }

    /// The raw 80-byte headers.
    pub fn to_raw(&self) -> Vec<Vec<u8>> {
        self.headers
            .iter()
            .map(|(h, _)| bitcoin::consensus::serialize(h))
            .collect()
    }

    /// Checks the headers against state (see the module docs for the rules).
    pub fn check<S: StateRead + ?Sized>(
        &self,
        state: &S,
    ) -> Result<CheckedHeaders, BtcLightClientError> {
        let params = params::load(state)?;
        let max = u64::from(params.max_headers_per_msg);
        if self.headers.len() as u64 > max {
            return Err(BtcLightClientError::HeaderCount {
                max,
                found: self.headers.len() as u64,
            });
        }
        let network = params.network;

        // 1. Skip the known prefix.
        let mut known = 0;
        while known < self.headers.len()
            && state
                .get_raw(state_key::header(&self.headers[known].1).as_bytes())?
                .is_some()
        {
            known += 1;
        }
        if known == self.headers.len() {
            let tip = load_tip(state)?;
            return Err(BtcLightClientError::NoNewHeaders {
                count: self.headers.len(),
                tip_hash: tip.info.hash,
                tip_height: tip.info.height,
            });
        }

        // 2. The parent of the first new header.
        let (first, first_hash) = &self.headers[known];
        let Some(mut parent) = load_record(state, &first.prev_blockhash)? else {
            let tip = load_tip(state)?;
            return Err(BtcLightClientError::UnknownParent {
                hash: *first_hash,
                parent: first.prev_blockhash,
                tip_hash: tip.info.hash,
                tip_height: tip.info.height,
            });
        };

        // The median-time window: the parent and up to 10 of its ancestors, oldest first.
        let mut window: VecDeque<u32> = VecDeque::with_capacity(MEDIAN_TIME_SPAN + 1);
        window.push_back(parent.info.header.time);
        let mut oldest_height = parent.info.height;
        let mut cursor = parent.info.header.prev_blockhash;
        while window.len() < MEDIAN_TIME_SPAN && oldest_height > 0 {
            let Some(anc) = load_record(state, &cursor)? else {
                break; // below the base header
            };
            window.push_front(anc.info.header.time);
            oldest_height = anc.info.height;
            cursor = anc.info.header.prev_blockhash;
        }
        // A window that starts at the network's genesis holds every ancestor, as Bitcoin's
        // does. The window only grows until it is full and then stays full, so this holds for
        // the whole message.
        let from_genesis = oldest_height == 0;

        let mut records = Vec::with_capacity(self.headers.len() - known);
        for (header, hash) in &self.headers[known..] {
            let record = check_one(network, &parent, header, *hash, &window, from_genesis)?;
            window.push_back(header.time);
            if window.len() > MEDIAN_TIME_SPAN {
                window.pop_front();
            }
            records.push(record.clone());
            parent = record;
        }
        Ok(CheckedHeaders { known, records })
    }
}

fn check_count(n: usize) -> Result<(), BtcLightClientError> {
    if n == 0 || n as u64 > u64::from(HEADERS_PER_MSG_HARD_LIMIT) {
        return Err(BtcLightClientError::HeaderCount {
            max: u64::from(HEADERS_PER_MSG_HARD_LIMIT),
            found: n as u64,
        });
    }
    Ok(())
}

/// Validates one header on top of `parent` and builds its record.
fn check_one(
    network: BtcNetwork,
    parent: &Record,
    header: &Header,
    hash: BlockHash,
    window: &VecDeque<u32>,
    from_genesis: bool,
) -> Result<Record, BtcLightClientError> {
    let rules = network.rules();
    let height = parent
        .info
        .height
        .checked_add(1)
        .ok_or_else(|| corrupt("btclightclient height overflow"))?;
    let bits = header.bits.to_consensus();

    let expected = pow::next_bits(network, &parent.parent_info(), header.time);
    if bits != expected {
        return Err(BtcLightClientError::BadDifficultyBits {
            hash,
            height,
            expected,
            found: bits,
        });
    }
    // The expected bits always come from a valid chain, but a corrupt state must not panic.
    let target = pow::checked_target(network, bits)
        .map_err(|e| corrupt(format!("expected bits at height {height} are invalid: {e}")))?;
    if !pow::hash_meets_target(&hash, target) {
        return Err(BtcLightClientError::InsufficientProofOfWork { hash, height, bits });
    }

    // Bitcoin uses every ancestor when there are fewer than 11 (near its genesis); the light
    // client knows them all only when it starts from the genesis.
    if window.len() == MEDIAN_TIME_SPAN || from_genesis {
        let mut sorted: Vec<u32> = window.iter().copied().collect();
        sorted.sort_unstable();
        let median_time_past = sorted[sorted.len() / 2];
        if header.time <= median_time_past {
            return Err(BtcLightClientError::TimeTooOld {
                hash,
                height,
                time: header.time,
                median_time_past,
            });
        }
    }

    if is_timewarp(network, height, header.time, parent.info.header.time) {
        return Err(BtcLightClientError::TimeWarp {
            hash,
            height,
            time: header.time,
            parent_time: parent.info.header.time,
        });
    }

    let min_version = min_version(network, height);
    let version = header.version.to_consensus();
    if version < min_version {
        return Err(BtcLightClientError::ObsoleteVersion {
            hash,
            height,
            version,
            min: min_version,
        });
    }

    let cumulative_work = parent
        .info
        .cumulative_work
        .checked_add(ChainWork::from_target(target))
        .ok_or(BtcLightClientError::WorkOverflow { hash })?;

    let (period_start_time, period_start_bits) = if height.is_multiple_of(RETARGET_INTERVAL) {
        (header.time, bits)
    } else {
        (parent.period_start_time, parent.period_start_bits)
    };
    let last_regular_bits =
        if height.is_multiple_of(RETARGET_INTERVAL) || bits != rules.pow_limit_bits {
            bits
        } else {
            parent.last_regular_bits
        };
    Ok(Record {
        info: HeaderInfo {
            hash,
            height,
            header: *header,
            cumulative_work,
        },
        period_start_time,
        period_start_bits,
        last_regular_bits,
    })
}

/// BIP94 (testnet4): whether a period's first header is more than [`MAX_TIMEWARP`] seconds
/// before its parent.
fn is_timewarp(network: BtcNetwork, height: u64, time: u32, parent_time: u32) -> bool {
    network.rules().enforce_bip94
        && height.is_multiple_of(RETARGET_INTERVAL)
        && i64::from(time) < i64::from(parent_time) - MAX_TIMEWARP as i64
}

/// The lowest header version valid at `height` (BIP34: 2, BIP66: 3, BIP65: 4).
fn min_version(network: BtcNetwork, height: u64) -> i32 {
    let rules = network.rules();
    if height >= rules.bip65_height {
        4
    } else if height >= rules.bip66_height {
        3
    } else if height >= rules.bip34_height {
        2
    } else {
        i32::MIN
    }
}

/// Headers that passed every check against the state they were checked on. Only
/// [`UncheckedHeaders::check`] makes them; only [`insert_headers`] writes them, on that same
/// state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedHeaders {
    known: usize,
    records: Vec<Record>,
}

impl CheckedHeaders {
    /// How many leading headers were already known and are skipped.
    pub fn known(&self) -> usize {
        self.known
    }

    /// The new headers, lowest first.
    pub fn new_headers(&self) -> impl ExactSizeIterator<Item = &HeaderInfo> {
        self.records.iter().map(|r| &r.info)
    }

    #[cfg(test)]
    pub(crate) fn records_mut(&mut self) -> &mut Vec<Record> {
        &mut self.records
    }

    /// Writes the headers and moves the tip; see [`insert_headers`].
    pub(crate) fn apply<S: StateWrite + ?Sized>(
        self,
        state: &mut S,
    ) -> Result<TipChange, BtcLightClientError> {
        let old_tip = load_tip(state)?;
        for r in &self.records {
            put_record(state, r)?;
        }
        let Some(last) = self.records.last() else {
            return Err(corrupt("checked headers hold no new header"));
        };
        let added: Vec<HeaderInfo> = self.records.iter().map(|r| r.info.clone()).collect();
        if last.info.cumulative_work <= old_tip.info.cumulative_work {
            return Ok(TipChange {
                added,
                fork_point: old_tip.info.block_ref(),
                old_tip: old_tip.info.clone(),
                new_tip: old_tip.info,
                rolled_back: Vec::new(),
                rolled_forward: Vec::new(),
            });
        }

        let first_parent = self.records[0].info.header.prev_blockhash;
        let mut forward: Vec<BlockRef> = self
            .records
            .iter()
            .rev()
            .map(|r| r.info.block_ref())
            .collect();
        let fork_point = if first_parent == old_tip.info.hash {
            old_tip.info.block_ref()
        } else {
            // Walk down the new branch until it meets the best chain. Every step lowers the
            // height, and the base header is on the best chain, so this ends.
            let mut cursor = first_parent;
            loop {
                let r = load_record(state, &cursor)?
                    .ok_or_else(|| corrupt(format!("ancestor {cursor} of a new header missing")))?;
                if main_hash_at(state, r.info.height)? == Some(cursor) {
                    break r.info.block_ref();
                }
                forward.push(r.info.block_ref());
                cursor = r.info.header.prev_blockhash;
            }
        };
        forward.reverse();

        let mut rolled_back = Vec::new();
        let mut h = old_tip.info.height;
        while h > fork_point.height {
            let hash = main_hash_at(state, h)?
                .ok_or_else(|| corrupt(format!("best chain has no header at height {h}")))?;
            rolled_back.push(BlockRef { hash, height: h });
            if h > last.info.height {
                state.delete(state_key::main_chain(h).into_bytes())?;
            }
            h -= 1;
        }
        for b in &forward {
            put_hash(state, state_key::main_chain(b.height), &b.hash)?;
        }
        put_hash(state, state_key::tip().to_string(), &last.info.hash)?;
        Ok(TipChange {
            added,
            old_tip: old_tip.info,
            new_tip: last.info.clone(),
            fork_point,
            rolled_back,
            rolled_forward: forward,
        })
    }
}

/// Checks `headers` against `state`, writes the new ones, and moves the tip to the header with
/// the most cumulative work (the current tip stays on a tie). On any error nothing is written.
/// The caller emits events and runs hooks from the returned change set.
pub fn insert_headers<S: StateWrite + ?Sized>(
    state: &mut S,
    headers: &UncheckedHeaders,
) -> Result<TipChange, BtcLightClientError> {
    let checked = headers.check(&*state)?;
    checked.apply(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip94_timewarp_binds_only_testnet4_period_starts() {
        let parent_time = 1_000_000;
        for (net, binds) in [
            (BtcNetwork::Testnet4, true),
            (BtcNetwork::Testnet3, false),
            (BtcNetwork::Mainnet, false),
            (BtcNetwork::Regtest, false),
        ] {
            assert_eq!(
                is_timewarp(net, 4032, parent_time - 601, parent_time),
                binds,
                "{net}"
            );
            assert!(
                !is_timewarp(net, 4032, parent_time - 600, parent_time),
                "{net}"
            );
            assert!(
                !is_timewarp(net, 4033, parent_time - 10_000, parent_time),
                "{net}"
            );
        }
        // Near time 0 the bound does not wrap.
        assert!(!is_timewarp(BtcNetwork::Testnet4, 2016, 0, 500));
    }

    #[test]
    fn minimum_versions_follow_the_buried_deployments() {
        let m = BtcNetwork::Mainnet;
        assert_eq!(min_version(m, 227_930), i32::MIN);
        assert_eq!(min_version(m, 227_931), 2);
        assert_eq!(min_version(m, 363_724), 2);
        assert_eq!(min_version(m, 363_725), 3);
        assert_eq!(min_version(m, 388_380), 3);
        assert_eq!(min_version(m, 388_381), 4);
        assert_eq!(min_version(BtcNetwork::Testnet3, 21_111), 2);
        assert_eq!(min_version(BtcNetwork::Testnet3, 581_885), 4);
        for n in [
            BtcNetwork::Testnet4,
            BtcNetwork::Signet,
            BtcNetwork::Regtest,
        ] {
            assert_eq!(min_version(n, 0), i32::MIN, "{n}");
            assert_eq!(min_version(n, 1), 4, "{n}");
        }
    }

    #[test]
    fn corrupt_records_are_fatal_not_panics() {
        let good = Record::base(HeaderInfo {
            hash: BtcNetwork::Regtest.genesis_header().block_hash(),
            height: 0,
            header: BtcNetwork::Regtest.genesis_header(),
            cumulative_work: ChainWork::ZERO,
        });
        assert_eq!(Record::from_proto(&good.to_proto()).unwrap(), good);
        let mut short = good.to_proto();
        short.header.pop();
        let mut bad_work = good.to_proto();
        bad_work.cumulative_work = vec![1; 31];
        for p in [short, bad_work] {
            let e = Record::from_proto(&p).unwrap_err();
            assert!(ballast_framework::ErrorCode::is_fatal(&e), "{e}");
        }
    }
}
