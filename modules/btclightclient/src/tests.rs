//! Unit tests of the whole light client over the in-memory state: real mainnet headers, regtest
//! chains mined here, reorgs, rejections, SPV proofs, the message, hooks and queries.

use crate::error::CODESPACE;
use crate::events::{self, parse_block_event, parse_header_inserted};
use crate::merkle::TxInclusionProof;
use crate::network::RETARGET_INTERVAL;
use crate::pow::{next_bits, ParentInfo};
use crate::testutil::*;
use crate::*;
use ballast_framework::{
    sdk, Address, ErrorCode, Event, MemState, Module, StateWrite, TxContext, TxError,
};
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use prost::Message;

fn mainnet_period() -> Vec<Header> {
    parse_headers(MAINNET_822528_824544)
}

/// Genesis at mainnet 822528 with bitcoind's chainwork there.
fn mainnet_state(max_headers_per_msg: u32) -> MemState {
    let headers = mainnet_period();
    // Retarget-file entry 816 is height 822528 (= 2016 × 408).
    assert_eq!(retarget_file_height(816), 822_528);
    let gs = GenesisState {
        params: Params {
            network: BtcNetwork::Mainnet,
            max_headers_per_msg,
        },
        base_header: BaseHeader {
            height: 822_528,
            header: hex::encode(bitcoin::consensus::serialize(&headers[0])),
            cumulative_work: format!("{:x}", retarget_chainwork(816)),
        },
    };
    let mut s = MemState::new();
    gs.apply(&mut s).unwrap();
    s
}

fn code(e: &BtcLightClientError) -> (&'static str, u32) {
    (e.codespace(), e.code())
}

// ---- real mainnet data ----------------------------------------------------------------------

#[test]
fn a_real_mainnet_period_inserts_in_one_message_and_retargets_like_bitcoind() {
    let headers = mainnet_period();
    assert_eq!(headers.len(), 2017);
    let mut s = mainnet_state(2016);
    let change = insert(&mut s, &headers[1..]).unwrap();

    // The retarget at 824544 really changed the difficulty, and it was accepted.
    assert_ne!(headers[0].bits, headers[2016].bits);
    let tip = s.btc_tip().unwrap();
    assert_eq!(tip.height, 824_544);
    assert_eq!(tip.hash, headers[2016].block_hash());
    // The cumulative work equals bitcoind's chainwork at 824544 (retarget-file entry 818).
    assert_eq!(retarget_file_height(818), 824_544);
    assert_eq!(tip.cumulative_work, retarget_chainwork(818));

    assert_eq!(change.added.len(), 2016);
    assert_eq!(change.old_tip.height, 822_528);
    assert_eq!(change.fork_point, change.old_tip.block_ref());
    assert!(change.rolled_back.is_empty());
    assert_eq!(change.rolled_forward.len(), 2016);
    assert_eq!(change.rolled_forward[0].height, 822_529);
    for (i, h) in headers.iter().enumerate() {
        let info = s.btc_header_at_height(822_528 + i as u64).unwrap().unwrap();
        assert_eq!(info.hash, h.block_hash());
    }
    assert_eq!(s.btc_depth(&headers[0].block_hash()).unwrap(), Some(2016));
}

#[test]
fn a_real_mainnet_stale_block_forks_ties_and_is_reorged_away() {
    let headers = mainnet_period();
    let stale = parse_headers(MAINNET_STALE_823226)[0];
    let idx_823226 = (823_226 - 822_528) as usize;
    assert_eq!(stale.prev_blockhash, headers[idx_823226 - 1].block_hash());
    assert_ne!(stale.block_hash(), headers[idx_823226].block_hash());

    // Up to 823225 in messages of 100, so median-time windows span messages.
    let mut s = mainnet_state(100);
    for chunk in headers[1..idx_823226].chunks(100) {
        insert(&mut s, chunk).unwrap();
    }
    assert_eq!(s.btc_tip().unwrap().height, 823_225);

    // The stale block arrives first and becomes the tip.
    let c = insert(&mut s, &[stale]).unwrap();
    assert!(c.tip_changed() && !c.is_reorg());
    assert_eq!(s.btc_tip().unwrap().hash, stale.block_hash());

    // The real 823226 has the same work: the tie keeps the current tip.
    let real = headers[idx_823226];
    let c = insert(&mut s, &[real]).unwrap();
    assert!(!c.tip_changed());
    assert_eq!(c.added.len(), 1);
    assert_eq!(s.btc_tip().unwrap().hash, stale.block_hash());
    assert!(s.btc_contains_header(&real.block_hash()).unwrap());
    assert!(!s.btc_is_on_best_chain(&real.block_hash()).unwrap());
    assert_eq!(s.btc_depth(&real.block_hash()).unwrap(), None);

    // 823227 extends the real branch: one block rolls back, two roll forward.
    let next = headers[idx_823226 + 1];
    let c = insert(&mut s, &[next]).unwrap();
    assert!(c.is_reorg());
    assert_eq!(
        c.rolled_back,
        vec![BlockRef {
            hash: stale.block_hash(),
            height: 823_226
        }]
    );
    assert_eq!(
        c.rolled_forward,
        vec![
            BlockRef {
                hash: real.block_hash(),
                height: 823_226
            },
            BlockRef {
                hash: next.block_hash(),
                height: 823_227
            }
        ]
    );
    assert_eq!(c.fork_point.height, 823_225);
    assert!(!s.btc_is_on_best_chain(&stale.block_hash()).unwrap());
    assert!(s.btc_is_on_best_chain(&real.block_hash()).unwrap());
    assert_eq!(s.btc_depth(&real.block_hash()).unwrap(), Some(1));

    // The rest of the period follows, across the retarget.
    for chunk in headers[idx_823226 + 2..].chunks(100) {
        insert(&mut s, chunk).unwrap();
    }
    assert_eq!(
        s.btc_tip().unwrap().cumulative_work,
        retarget_chainwork(818)
    );
}

#[test]
fn the_retarget_rule_reproduces_every_mainnet_difficulty_change() {
    let hs = parse_headers(MAINNET_RETARGET_HEADERS);
    assert_eq!(hs.len(), 827);
    assert_eq!(
        hs[0].block_hash(),
        BtcNetwork::Mainnet.genesis_header().block_hash()
    );
    let params = bitcoin::params::Params::new(bitcoin::Network::Bitcoin);
    let mut changes = 0;
    for k in 1..=413usize {
        let (first, last, new) = (hs[2 * k - 2], hs[2 * k - 1], hs[2 * k]);
        let height = retarget_file_height(2 * k);
        assert!(height.is_multiple_of(RETARGET_INTERVAL));
        // The data is real: each new header builds on the period's last and meets its target.
        assert_eq!(new.prev_blockhash, last.block_hash(), "{height}");
        assert!(new.target().is_met_by(new.block_hash()), "{height}");
        let parent = ParentInfo {
            height: height - 1,
            time: last.time,
            bits: last.bits.to_consensus(),
            period_start_time: first.time,
            period_start_bits: first.bits.to_consensus(),
            last_regular_bits: last.bits.to_consensus(),
        };
        let ours = next_bits(BtcNetwork::Mainnet, &parent, new.time);
        assert_eq!(ours, new.bits.to_consensus(), "retarget at {height}");
        let theirs =
            bitcoin::pow::CompactTarget::from_header_difficulty_adjustment(first, last, &params);
        assert_eq!(ours, theirs.to_consensus(), "bitcoin crate at {height}");
        if new.bits != last.bits {
            changes += 1;
        }
        // Work: bitcoind's chainwork grows by exactly the new header's work.
        let own = ChainWork::from(new.work());
        assert_eq!(
            retarget_chainwork(2 * k - 1).checked_add(own).unwrap(),
            retarget_chainwork(2 * k),
            "chainwork at {height}"
        );
    }
    // Early periods were clamped to the limit; most later ones changed.
    assert!(changes > 380, "{changes}");
}

#[test]
fn a_full_message_of_real_headers_fits_the_default_tx_gas_limit() {
    use ballast_framework::{GasMeter, Metered, Overlay};
    let headers = mainnet_period();
    let s = mainnet_state(2016);
    let accounts = ballast_accounts::Params::default();
    let meter = GasMeter::new(accounts.max_tx_gas);
    let u = UncheckedHeaders::new(headers[1..].to_vec()).unwrap();
    let mut metered = Metered::new(Overlay::new(&s), &meter, accounts.gas_costs());
    let change = insert_headers(&mut metered, &u).unwrap();
    events::emit_tip_change(&mut metered, &change);
    assert!(
        meter.used() < accounts.max_tx_gas,
        "{} gas for 2016 headers",
        meter.used()
    );
    eprintln!(
        "2016 mainnet headers: {} gas of {}",
        meter.used(),
        accounts.max_tx_gas
    );
}

// ---- regtest: connection, fork choice, reorgs --------------------------------------------

#[test]
fn a_regtest_chain_connects_and_every_index_follows_it() {
    let mut s = regtest_state();
    let g = regtest_genesis();
    let chain = regtest_chain(&g, 5, 1);
    let c = insert(&mut s, &chain).unwrap();
    assert_eq!(c.added.len(), 5);
    assert_eq!(c.new_tip.height, 5);
    // Regtest work is 2 per header.
    assert_eq!(c.new_tip.cumulative_work, "12".parse().unwrap());
    for (i, h) in chain.iter().enumerate() {
        let info = s.btc_header_by_hash(&h.block_hash()).unwrap().unwrap();
        assert_eq!(info.height, i as u64 + 1);
        assert_eq!(s.btc_header_at_height(i as u64 + 1).unwrap(), Some(info));
        assert_eq!(s.btc_depth(&h.block_hash()).unwrap(), Some(4 - i as u64));
    }
    assert_eq!(s.btc_header_at_height(6).unwrap(), None);
}

#[test]
fn fork_choice_follows_work_keeps_the_tip_on_ties_and_reorgs_across_messages() {
    let mut s = regtest_state();
    let g = regtest_genesis();
    let a = regtest_chain(&g, 4, 1); // heights 1..=4
    insert(&mut s, &a).unwrap();

    // A fork from height 2 reaching height 4: same work, the tip stays.
    let b = regtest_chain(&a[1], 2, 2); // heights 3..=4
    let c = insert(&mut s, &b).unwrap();
    assert!(!c.tip_changed());
    assert_eq!(s.btc_tip().unwrap().hash, a[3].block_hash());
    assert_eq!(c.fork_point, c.old_tip.block_ref());

    // One more on the fork (sent alone, its parent is a fork header): reorg.
    let b5 = regtest_chain(&b[1], 1, 3);
    let c = insert(&mut s, &b5).unwrap();
    assert!(c.is_reorg());
    assert_eq!(
        c.fork_point,
        BlockRef {
            hash: a[1].block_hash(),
            height: 2
        }
    );
    let refs = |hs: &[&Header], from: u64| -> Vec<BlockRef> {
        hs.iter()
            .enumerate()
            .map(|(i, h)| BlockRef {
                hash: h.block_hash(),
                height: from + i as u64,
            })
            .collect()
    };
    assert_eq!(c.rolled_back, {
        let mut v = refs(&[&a[2], &a[3]], 3);
        v.reverse();
        v
    });
    assert_eq!(c.rolled_forward, refs(&[&b[0], &b[1], &b5[0]], 3));
    for (h, hash) in [(3, b[0]), (4, b[1]), (5, b5[0])] {
        assert_eq!(
            s.btc_header_at_height(h).unwrap().unwrap().hash,
            hash.block_hash()
        );
    }
    assert!(!s.btc_is_on_best_chain(&a[3].block_hash()).unwrap());
    assert!(s.btc_is_on_best_chain(&a[1].block_hash()).unwrap());

    // Back to the first branch with two more: the main index above the fork is rewritten.
    let a_more = regtest_chain(&a[3], 2, 4); // heights 5..=6
    let c = insert(&mut s, &a_more).unwrap();
    assert_eq!(c.rolled_back.len(), 3);
    assert_eq!(c.rolled_forward.len(), 4);
    assert_eq!(s.btc_tip().unwrap().height, 6);
    assert_eq!(
        s.btc_header_at_height(3).unwrap().unwrap().hash,
        a[2].block_hash()
    );
}

#[test]
fn a_lower_tip_with_more_work_wins_and_the_index_above_it_is_cleared() {
    // On regtest every header has the same work, so "more work" always means "higher". Feed
    // the writer checked records whose work says otherwise (as a difficulty increase would) to
    // cover a reorg to a lower tip.
    let mut s = regtest_state();
    let g = regtest_genesis();
    let a = regtest_chain(&g, 6, 1);
    insert(&mut s, &a).unwrap();
    let b = regtest_chain(&g, 2, 2);
    let mut checked = UncheckedHeaders::new(b.clone()).unwrap().check(&s).unwrap();
    let heavy: ChainWork = "1000".parse().unwrap();
    checked.set_work_for_test(1, heavy);
    let c = checked.apply_for_test(&mut s).unwrap();
    assert_eq!(c.rolled_back.len(), 6);
    assert_eq!(c.rolled_forward.len(), 2);
    assert_eq!(c.fork_point.height, 0);
    assert_eq!(s.btc_tip().unwrap().hash, b[1].block_hash());
    assert_eq!(s.btc_tip().unwrap().height, 2);
    for h in 3..=6 {
        assert_eq!(s.btc_header_at_height(h).unwrap(), None, "height {h}");
    }
    assert_eq!(
        s.btc_header_at_height(2).unwrap().unwrap().hash,
        b[1].block_hash()
    );
    assert!(!s.btc_is_on_best_chain(&a[5].block_hash()).unwrap());
}

#[test]
fn the_min_difficulty_rule_walks_back_to_the_last_regular_bits_on_regtest() {
    // Regtest allows min-difficulty headers like the testnets. Start from a regtest base with
    // harder bits than the limit, so "regular" and "minimum" bits differ and are cheap to mine.
    let hard = 0x2000_ffff;
    let v = Version::from_consensus(0x2000_0000);
    let base = mine_with(
        BlockHash::from_byte_array([5; 32]),
        1_700_000_000,
        0,
        hard,
        v,
        true,
    );
    let gs = GenesisState {
        params: Params::default(),
        base_header: BaseHeader {
            height: 5,
            header: hex::encode(bitcoin::consensus::serialize(&base)),
            cumulative_work: "1000000".into(),
        },
    };
    let mut s = MemState::new();
    gs.apply(&mut s).unwrap();

    // Within 20 minutes: the regular bits, not the limit.
    let t6 = base.time + 600;
    let easy6 = mine_with(base.block_hash(), t6, 1, REGTEST_BITS, v, true);
    let e = rejected(&mut s, &[easy6]);
    assert!(
        matches!(e, BtcLightClientError::BadDifficultyBits { expected, .. } if expected == hard),
        "{e}"
    );
    let h6 = mine_with(base.block_hash(), t6, 1, hard, v, true);
    insert(&mut s, &[h6]).unwrap();

    // More than 20 minutes later: exactly the limit.
    let t7 = t6 + 1201;
    let hard7 = mine_with(h6.block_hash(), t7, 2, hard, v, true);
    assert_eq!(code(&rejected(&mut s, &[hard7])), (CODESPACE, 7));
    let h7 = mine_with(h6.block_hash(), t7, 2, REGTEST_BITS, v, true);
    insert(&mut s, &[h7]).unwrap();

    // Back within 20 minutes: the bits before the min-difficulty header, not its bits.
    let t8 = t7 + 600;
    let easy8 = mine_with(h7.block_hash(), t8, 3, REGTEST_BITS, v, true);
    let e = rejected(&mut s, &[easy8]);
    assert!(
        matches!(e, BtcLightClientError::BadDifficultyBits { expected, .. } if expected == hard),
        "{e}"
    );
    let h8 = mine_with(h7.block_hash(), t8, 3, hard, v, true);
    let c = insert(&mut s, &[h8]).unwrap();
    assert_eq!(c.new_tip.height, 8);
}

// ---- rejections leave state unchanged --------------------------------------------------------

/// Inserts `headers` expecting failure; the state must not change.
fn rejected(s: &mut MemState, headers: &[Header]) -> BtcLightClientError {
    let before = dump(s);
    let e = insert(s, headers).unwrap_err();
    assert_eq!(dump(s), before, "a rejected message changed state: {e}");
    e
}

#[test]
fn rejections_name_the_problem_and_change_nothing() {
    let mut s = regtest_state();
    let g = regtest_genesis();
    let chain = regtest_chain(&g, 12, 1);
    insert(&mut s, &chain).unwrap();
    let tip = chain[11];
    let next_time = tip.time + 600;

    // Unknown parent, with the recovery hint.
    let orphan = mine(BlockHash::from_byte_array([7; 32]), next_time, 99);
    let e = rejected(&mut s, &[orphan]);
    assert_eq!(code(&e), (CODESPACE, 6));
    let msg = e.to_string();
    assert!(
        msg.contains("height 12") && msg.contains("send headers from height 13"),
        "{msg}"
    );

    // Wrong bits (mainnet's limit on regtest), with valid PoW for those bits: the bits are
    // checked before the PoW. And a regtest-bits header whose hash misses the target.
    let wrong_bits = mine_with(
        tip.block_hash(),
        next_time,
        1,
        0x2000_ffff,
        Version::from_consensus(0x2000_0000),
        true,
    );
    assert_eq!(code(&rejected(&mut s, &[wrong_bits])), (CODESPACE, 7));
    let bad_pow = mine_with(
        tip.block_hash(),
        next_time,
        2,
        REGTEST_BITS,
        Version::from_consensus(0x2000_0000),
        false,
    );
    assert_eq!(code(&rejected(&mut s, &[bad_pow])), (CODESPACE, 8));

    // Median time past: the median of the last 11 is chain[6].time; equal is too old, one
    // second later is fine.
    let median = chain[6].time;
    let too_old = mine(tip.block_hash(), median, 3);
    let e = rejected(&mut s, &[too_old]);
    assert_eq!(code(&e), (CODESPACE, 9));
    assert!(e.to_string().contains(&median.to_string()));
    let just_after = mine(tip.block_hash(), median + 1, 3);
    assert!(insert(&mut s.clone(), &[just_after]).is_ok());

    // Obsolete version: regtest activates BIP65 at height 1, so version 3 is too low.
    let v3 = mine_with(
        tip.block_hash(),
        next_time,
        4,
        REGTEST_BITS,
        Version::from_consensus(3),
        true,
    );
    assert_eq!(code(&rejected(&mut s, &[v3])), (CODESPACE, 11));

    // A bad header in the middle of a message: nothing of the message is written.
    let mut good = regtest_chain(&tip, 3, 5);
    let bad = mine_with(
        good[1].block_hash(),
        good[1].time + 600,
        6,
        0x2000_ffff,
        Version::from_consensus(0x2000_0000),
        true,
    );
    good.truncate(2);
    good.push(bad);
    let e = rejected(&mut s, &good);
    assert!(e.to_string().contains("height 15"), "{e}");

    // Every header known: rejected with the hint; a known prefix plus a new header is fine.
    let e = rejected(&mut s, &chain[3..6]);
    assert_eq!(code(&e), (CODESPACE, 5));
    assert!(e.to_string().contains("send headers from height 13"), "{e}");
    let mut with_prefix = chain[9..].to_vec();
    with_prefix.extend(regtest_chain(&tip, 2, 7));
    let c = insert(&mut s, &with_prefix).unwrap();
    assert_eq!(c.added.len(), 2);
    assert_eq!(c.added[0].height, 13);
}

#[test]
fn median_time_past_uses_the_genesis_ancestry_and_slides_within_a_message() {
    let g = regtest_genesis();
    let mut s = regtest_state();
    // From the genesis, fewer than 11 ancestors count: the median of {genesis, h1} is h1's time.
    let h1 = mine(g.block_hash(), g.time + 1000, 1);
    insert(&mut s, &[h1]).unwrap();
    let same = mine(h1.block_hash(), h1.time, 2);
    assert_eq!(code(&rejected(&mut s, &[same])), (CODESPACE, 9));
    // Heights 2..=11, 1000 s apart.
    let mut chain = vec![h1];
    for i in 2..=11u32 {
        let prev = *chain.last().unwrap();
        chain.push(mine(prev.block_hash(), g.time + 1000 * i, 10 + i));
    }
    insert(&mut s, &chain[1..]).unwrap();
    let t = |height: u32| g.time + 1000 * height;
    // A two-header message: x1's window is heights 1..=11 (median t(6)); after x1 the window
    // slides to heights 2..=12 (median t(7)), so x2 at t(7) is too old and t(7) + 1 is not.
    let x1 = mine(chain[10].block_hash(), t(12), 30);
    let x2_old = mine(x1.block_hash(), t(7), 31);
    let e = rejected(&mut s, &[x1, x2_old]);
    assert!(
        matches!(e, BtcLightClientError::TimeTooOld { median_time_past, height: 13, .. } if median_time_past == t(7)),
        "{e}"
    );
    let x2 = mine(x1.block_hash(), t(7) + 1, 31);
    insert(&mut s, &[x1, x2]).unwrap();

    // Above a base that is not the genesis, the first headers have too few known ancestors
    // and the check is skipped: a header older than its parent is accepted there.
    let mut gs = GenesisState::default();
    let base = mine(BlockHash::from_byte_array([5; 32]), 1_700_000_000, 0);
    gs.base_header = BaseHeader {
        height: 5,
        header: hex::encode(bitcoin::consensus::serialize(&base)),
        cumulative_work: "100".into(),
    };
    let mut s = MemState::new();
    gs.apply(&mut s).unwrap();
    let older = mine(base.block_hash(), base.time - 1, 1);
    insert(&mut s, &[older]).unwrap();
}

#[test]
fn message_shape_is_checked_before_state() {
    let g = regtest_genesis();
    let chain = regtest_chain(&g, 3, 1);
    let e = UncheckedHeaders::new(vec![]).unwrap_err();
    assert_eq!(code(&e), (CODESPACE, 2));
    let e = UncheckedHeaders::new(vec![chain[0], chain[2]]).unwrap_err();
    assert_eq!(code(&e), (CODESPACE, 4));
    let raw = vec![vec![0u8; 80], vec![0u8; 79]];
    let e = UncheckedHeaders::from_raw(&raw).unwrap_err();
    assert_eq!(code(&e), (CODESPACE, 3));
    assert!(e.to_string().contains("header 1 is 79 bytes"));
    let too_many = vec![vec![0u8; 80]; chain::HEADERS_PER_MSG_HARD_LIMIT as usize + 1];
    assert_eq!(
        code(&UncheckedHeaders::from_raw(&too_many).unwrap_err()),
        (CODESPACE, 2)
    );

    // The params' limit applies at execution.
    let mut gs = GenesisState::default();
    gs.params.max_headers_per_msg = 2;
    let mut s = MemState::new();
    gs.apply(&mut s).unwrap();
    let e = rejected(&mut s, &chain);
    assert_eq!(code(&e), (CODESPACE, 2));
    assert!(e.to_string().contains("between 1 and 2"), "{e}");
    insert(&mut s, &chain[..2]).unwrap();
}

// ---- the message, events and hooks -----------------------------------------------------------

#[derive(Default)]
struct Recorder {
    changes: std::sync::Mutex<Vec<TipChange>>,
    fail: bool,
}

impl BtcLightClientHooks for Recorder {
    fn on_tip_change(&self, state: &mut dyn StateWrite, change: &TipChange) -> Result<(), TxError> {
        if self.fail {
            return Err(TxError::new("listener", 9, "listener refused"));
        }
        // Listeners write through the same state.
        state
            .put_raw(
                b"listener/last_tip".to_vec(),
                change.new_tip.hash.to_byte_array().to_vec(),
            )
            .map_err(TxError::from)?;
        self.changes.lock().unwrap().push(change.clone());
        Ok(())
    }
}

fn any_msg(signer: Address, headers: &[Header]) -> prost_types::Any {
    let m = MsgInsertHeaders::new(signer, UncheckedHeaders::new(headers.to_vec()).unwrap());
    prost_types::Any {
        type_url: <MsgInsertHeaders as ballast_framework::MsgHandler>::TYPE_URL.into(),
        value: m.to_proto().encode_to_vec(),
    }
}

fn run(
    module: &BtcLightClientModule,
    s: &mut MemState,
    any: &prost_types::Any,
) -> Result<Vec<Event>, TxError> {
    let msg = module.decode_msg(any).expect("a btclightclient message")?;
    msg.check_stateless()?;
    let block = ballast_framework::BlockContext::default();
    let signers = msg.signers();
    let ctx = TxContext {
        block: &block,
        tx_hash: [0; 32],
        signers: &signers,
    };
    // Execute on an overlay, as the tx pipeline does: a failure leaves nothing behind.
    let mut ov = ballast_framework::Overlay::new(&*s);
    msg.execute(&mut ov, &ctx)?;
    let changes = ov.into_changes();
    let events = changes.events.clone();
    changes.apply_to(s).unwrap();
    Ok(events)
}

#[test]
fn the_message_emits_events_in_order_and_runs_hooks_on_tip_changes() {
    let rec = std::sync::Arc::new(Recorder::default());
    let module = BtcLightClientModule::with_hooks(vec![rec.clone()]);
    let mut s = MemState::new();
    module
        .init_genesis(&mut s, &Default::default(), None)
        .unwrap();
    let signer = Address([9; 20]);
    let g = regtest_genesis();
    let a = regtest_chain(&g, 3, 1);

    let evs = run(&module, &mut s, &any_msg(signer, &a)).unwrap();
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message",
            events::HEADER_INSERTED,
            events::HEADER_INSERTED,
            events::HEADER_INSERTED,
            events::ROLL_FORWARD,
            events::ROLL_FORWARD,
            events::ROLL_FORWARD
        ]
    );
    assert_eq!(evs[0].get("sender"), Some(signer.to_string().as_str()));
    let inserted = parse_header_inserted(&evs[1]).unwrap();
    assert_eq!(inserted.hash, a[0].block_hash().to_string());
    assert_eq!(inserted.height, 1);
    assert_eq!(inserted.cumulative_work, "4");
    assert_eq!(rec.changes.lock().unwrap().len(), 1);
    assert_eq!(
        ballast_framework::StateRead::get_raw(&s, b"listener/last_tip").unwrap(),
        Some(a[2].block_hash().to_byte_array().to_vec())
    );

    // A fork that only ties: header events, no roll events, no hook call.
    let b = regtest_chain(&a[0], 2, 2);
    let evs = run(&module, &mut s, &any_msg(signer, &b)).unwrap();
    assert_eq!(evs.len(), 3);
    assert_eq!(rec.changes.lock().unwrap().len(), 1);

    // The fork wins: roll-backs highest first, then roll-forwards lowest first.
    let b3 = regtest_chain(&b[1], 1, 3);
    let evs = run(&module, &mut s, &any_msg(signer, &b3)).unwrap();
    let rolls: Vec<(&str, String, u64)> = evs.iter().filter_map(parse_block_event).collect();
    assert_eq!(
        rolls,
        vec![
            (events::ROLL_BACK, a[2].block_hash().to_string(), 3),
            (events::ROLL_BACK, a[1].block_hash().to_string(), 2),
            (events::ROLL_FORWARD, b[0].block_hash().to_string(), 2),
            (events::ROLL_FORWARD, b[1].block_hash().to_string(), 3),
            (events::ROLL_FORWARD, b3[0].block_hash().to_string(), 4),
        ]
    );
    let seen = rec.changes.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].is_reorg());
    drop(seen);

    // Decoding failures get stable codes.
    let mut bad = any_msg(signer, &a);
    bad.value = vec![0xff, 0xff];
    let e = module.decode_msg(&bad).unwrap().unwrap_err();
    assert_eq!((e.codespace, e.code), (sdk::CODESPACE, sdk::TX_DECODE));
    let bad_signer = pb_msg("cosmos1xyz", vec![vec![0u8; 80]]);
    let e = module.decode_msg(&bad_signer).unwrap().unwrap_err();
    assert_eq!(
        (e.codespace, e.code),
        (sdk::CODESPACE, sdk::INVALID_ADDRESS)
    );
    let empty = pb_msg(&signer.to_string(), vec![]);
    let e = module.decode_msg(&empty).unwrap().unwrap_err();
    assert_eq!((e.codespace, e.code), (CODESPACE, 2));
    // Another module's message is not ours.
    assert!(module
        .decode_msg(&prost_types::Any {
            type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
            value: vec![]
        })
        .is_none());
}

fn pb_msg(signer: &str, headers: Vec<Vec<u8>>) -> prost_types::Any {
    prost_types::Any {
        type_url: "/ballast.btclightclient.v1.MsgInsertHeaders".into(),
        value: ballast_proto::ballast::btclightclient::v1::MsgInsertHeaders {
            signer: signer.into(),
            headers,
        }
        .encode_to_vec(),
    }
}

#[test]
fn a_failing_hook_fails_the_message_and_nothing_is_kept() {
    let rec = std::sync::Arc::new(Recorder {
        fail: true,
        ..Recorder::default()
    });
    let module = BtcLightClientModule::with_hooks(vec![rec]);
    let mut s = MemState::new();
    module
        .init_genesis(&mut s, &Default::default(), None)
        .unwrap();
    let before = dump(&s);
    let a = regtest_chain(&regtest_genesis(), 2, 1);
    let e = run(&module, &mut s, &any_msg(Address([1; 20]), &a)).unwrap_err();
    assert_eq!(e.log, "listener refused");
    assert_eq!(dump(&s), before);
}

// ---- SPV proofs --------------------------------------------------------------------------

fn tx(tag: u8, script_sig_len: usize) -> bitcoin::Transaction {
    use bitcoin::{
        absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness,
    };
    bitcoin::Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: bitcoin::Txid::from_byte_array([tag; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::from_bytes(vec![0x51; script_sig_len]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new(),
        }],
    }
}

#[test]
fn spv_proofs_give_depth_and_reject_forgeries() {
    let mut s = regtest_state();
    let g = regtest_genesis();
    let txs: Vec<bitcoin::Transaction> = (0..5).map(|i| tx(i, 10)).collect();
    let txids: Vec<bitcoin::Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    let root = bitcoin::merkle_tree::calculate_root(txids.iter().map(|t| t.to_raw_hash()))
        .map(bitcoin::TxMerkleNode::from_raw_hash)
        .unwrap();
    let block = mine_root(
        g.block_hash(),
        g.time + 600,
        root,
        REGTEST_BITS,
        Version::from_consensus(0x2000_0000),
        true,
    );
    insert(&mut s, &[block]).unwrap();
    insert(&mut s, &regtest_chain(&block, 3, 9)).unwrap();

    let proof = |index: usize| TxInclusionProof {
        block_hash: block.block_hash(),
        index: index as u32,
        branch: merkle_branch(&txids, index),
    };
    for (i, t) in txs.iter().enumerate() {
        let got = s.btc_verify_tx_inclusion(t, &proof(i)).unwrap();
        assert_eq!(got.height, 1);
        assert_eq!(got.depth, 3);
        assert_eq!(got.txid, txids[i]);
    }

    let err = |s: &MemState, t: &bitcoin::Transaction, p: &TxInclusionProof| {
        code(&s.btc_verify_tx_inclusion(t, p).unwrap_err()).1
    };
    // A forged sibling.
    let mut forged = proof(2);
    forged.branch[1] = bitcoin::TxMerkleNode::from_byte_array([1; 32]);
    assert_eq!(err(&s, &txs[2], &forged), 17);
    // The right branch at the wrong index.
    let mut wrong_index = proof(2);
    wrong_index.index = 3;
    assert_eq!(err(&s, &txs[2], &wrong_index), 17);
    // Another transaction with this branch.
    assert_eq!(err(&s, &txs[1], &proof(2)), 17);
    // Index 5 would be the padding duplicate of index 4 (five leaves: 4 pairs with itself).
    let mut dup = proof(4);
    dup.index = 5;
    assert_eq!(err(&s, &txs[4], &dup), 18);
    // An index with bits above the branch.
    let mut high = proof(1);
    high.index = 9;
    assert_eq!(err(&s, &txs[1], &high), 20);
    // An unknown header.
    let mut unknown = proof(0);
    unknown.block_hash = BlockHash::from_byte_array([3; 32]);
    assert_eq!(err(&s, &txs[0], &unknown), 15);
    // A 64-byte transaction (4-byte scriptSig makes the non-witness form 64 bytes).
    let sixty_four = tx(7, 4);
    assert_eq!(bitcoin::consensus::serialize(&sixty_four).len(), 64);
    let one = [sixty_four.compute_txid()];
    let p64 = TxInclusionProof {
        block_hash: block.block_hash(),
        index: 0,
        branch: merkle_branch(&one, 0),
    };
    assert_eq!(err(&s, &sixty_four, &p64), 19);

    // A header on a fork: its proof verifies against the root but it is not on the best chain.
    let fork_block = mine_root(
        g.block_hash(),
        g.time + 601,
        root,
        REGTEST_BITS,
        Version::from_consensus(0x2000_0000),
        true,
    );
    insert(&mut s, &[fork_block]).unwrap();
    let mut on_fork = proof(0);
    on_fork.block_hash = fork_block.block_hash();
    assert_eq!(err(&s, &txs[0], &on_fork), 16);
}

#[test]
fn large_trees_with_odd_levels_verify() {
    // A tree of 1851 leaves has odd levels at several heights: every probed index verifies,
    // and the last leaf's padding position is rejected.
    let txids: Vec<bitcoin::Txid> = (0..1851u32)
        .map(|i| bitcoin::Txid::hash(&i.to_be_bytes()))
        .collect();
    let root = bitcoin::merkle_tree::calculate_root(txids.iter().map(|t| t.to_raw_hash()))
        .map(bitcoin::TxMerkleNode::from_raw_hash)
        .unwrap();
    for i in [0usize, 1, 10, 100, 1000, 1849, 1850] {
        let b = merkle_branch(&txids, i);
        assert_eq!(b.len(), 11);
        assert_eq!(
            merkle::merkle_root_from_branch(txids[i], i as u32, &b).unwrap(),
            root,
            "{i}"
        );
    }
    let b = merkle_branch(&txids, 1850);
    assert!(matches!(
        merkle::merkle_root_from_branch(txids[1850], 1851, &b),
        Err(BtcLightClientError::AmbiguousMerkleBranch { level: 0, .. })
    ));
}

// ---- queries -------------------------------------------------------------------------------

fn q<Req: Message, Resp: Message + Default>(
    s: &MemState,
    method: &str,
    req: Req,
) -> Result<Resp, TxError> {
    let module = BtcLightClientModule::new();
    let path = format!("/ballast.btclightclient.v1.Query/{method}");
    let bytes = module
        .query(s, &path, &req.encode_to_vec())
        .expect("a btclightclient path")?;
    Ok(Resp::decode(bytes.as_slice()).unwrap())
}

#[test]
fn queries_answer_every_path() {
    use ballast_proto::ballast::btclightclient::v1 as pb;
    let mut s = regtest_state();
    let g = regtest_genesis();
    let a = regtest_chain(&g, 5, 1);
    insert(&mut s, &a).unwrap();
    let fork = regtest_chain(&a[1], 1, 2)[0];
    insert(&mut s, &[fork]).unwrap();

    let p: pb::QueryParamsResponse = q(&s, "Params", pb::QueryParamsRequest {}).unwrap();
    assert_eq!(p.params.unwrap().network, "regtest");
    let t: pb::QueryTipResponse = q(&s, "Tip", pb::QueryTipRequest {}).unwrap();
    let tip = t.header.unwrap();
    assert_eq!(
        (tip.height, tip.hash.clone()),
        (5, a[4].block_hash().to_string())
    );
    assert_eq!(tip.cumulative_work, "12");
    assert_eq!(tip.header, bitcoin::consensus::serialize(&a[4]));
    let b: pb::QueryBaseHeaderResponse =
        q(&s, "BaseHeader", pb::QueryBaseHeaderRequest {}).unwrap();
    assert_eq!(b.header.unwrap().hash, g.block_hash().to_string());

    let hh: pb::QueryHeaderByHashResponse = q(
        &s,
        "HeaderByHash",
        pb::QueryHeaderByHashRequest {
            hash: fork.block_hash().to_string(),
        },
    )
    .unwrap();
    assert_eq!(hh.header.unwrap().height, 3);
    assert!(!hh.on_best_chain);
    let hh: pb::QueryHeaderByHeightResponse = q(
        &s,
        "HeaderByHeight",
        pb::QueryHeaderByHeightRequest { height: 3 },
    )
    .unwrap();
    assert_eq!(hh.header.unwrap().hash, a[2].block_hash().to_string());
    let e = q::<_, pb::QueryHeaderByHeightResponse>(
        &s,
        "HeaderByHeight",
        pb::QueryHeaderByHeightRequest { height: 6 },
    )
    .unwrap_err();
    assert_eq!((e.codespace, e.code), (CODESPACE, 23));

    let d: pb::QueryDepthResponse = q(
        &s,
        "Depth",
        pb::QueryDepthRequest {
            hash: a[1].block_hash().to_string(),
        },
    )
    .unwrap();
    assert_eq!(d.depth, 3);
    let e = q::<_, pb::QueryDepthResponse>(
        &s,
        "Depth",
        pb::QueryDepthRequest {
            hash: fork.block_hash().to_string(),
        },
    )
    .unwrap_err();
    assert_eq!(e.code, 16);
    let e = q::<_, pb::QueryDepthResponse>(
        &s,
        "Depth",
        pb::QueryDepthRequest {
            hash: BlockHash::all_zeros().to_string(),
        },
    )
    .unwrap_err();
    assert_eq!(e.code, 15);
    let e =
        q::<_, pb::QueryDepthResponse>(&s, "Depth", pb::QueryDepthRequest { hash: "xyz".into() })
            .unwrap_err();
    assert_eq!((e.codespace, e.code), (CODESPACE, 21));

    let c: pb::QueryContainsHashResponse = q(
        &s,
        "ContainsHash",
        pb::QueryContainsHashRequest {
            hash: fork.block_hash().to_string(),
        },
    )
    .unwrap();
    assert!(c.contains);
    let c: pb::QueryContainsHashResponse = q(
        &s,
        "ContainsHash",
        pb::QueryContainsHashRequest {
            hash: BlockHash::all_zeros().to_string(),
        },
    )
    .unwrap();
    assert!(!c.contains);
    let o: pb::QueryIsOnBestChainResponse = q(
        &s,
        "IsOnBestChain",
        pb::QueryIsOnBestChainRequest {
            hash: a[4].block_hash().to_string(),
        },
    )
    .unwrap();
    assert!(o.on_best_chain);

    // Pages: ascending from the base by default, descending from the tip.
    let page = |start: Option<u64>, limit: u32, descending: bool| {
        q::<_, pb::QueryMainChainResponse>(
            &s,
            "MainChain",
            pb::QueryMainChainRequest {
                start_height: start,
                limit,
                descending,
            },
        )
    };
    let heights = |r: &pb::QueryMainChainResponse| -> Vec<u64> {
        r.headers.iter().map(|h| h.height).collect()
    };
    let r = page(None, 4, false).unwrap();
    assert_eq!(heights(&r), [0, 1, 2, 3]);
    assert_eq!(r.next_height, Some(4));
    let r = page(r.next_height, 4, false).unwrap();
    assert_eq!(heights(&r), [4, 5]);
    assert_eq!(r.next_height, None);
    let r = page(None, 0, true).unwrap();
    assert_eq!(heights(&r), [5, 4, 3, 2, 1, 0]);
    assert_eq!(r.next_height, None);
    let r = page(Some(3), 2, true).unwrap();
    assert_eq!(heights(&r), [3, 2]);
    assert_eq!(r.next_height, Some(1));
    assert_eq!(page(None, 1001, false).unwrap_err().code, 22);
    assert_eq!(page(Some(6), 1, false).unwrap_err().code, 22);

    // Malformed request bytes and unknown methods.
    let module = BtcLightClientModule::new();
    let e = module
        .query(&s, "/ballast.btclightclient.v1.Query/Depth", &[0xff])
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.codespace, e.code),
        (sdk::CODESPACE, sdk::INVALID_REQUEST)
    );
    let e = module
        .query(&s, "/ballast.btclightclient.v1.Query/Nope", &[])
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, sdk::UNKNOWN_REQUEST);
    assert!(module
        .query(&s, "/ballast.accounts.v1.Query/Params", &[])
        .is_none());
}

#[test]
fn default_genesis_json_is_what_init_genesis_applies() {
    let module = BtcLightClientModule::new();
    let json = module.default_genesis();
    assert_eq!(json["params"]["network"], "regtest");
    let mut a = MemState::new();
    module
        .init_genesis(&mut a, &Default::default(), Some(&json))
        .unwrap();
    let mut b = MemState::new();
    module
        .init_genesis(&mut b, &Default::default(), None)
        .unwrap();
    assert_eq!(dump(&a), dump(&b));
    assert!(a
        .entries()
        .keys()
        .all(|k| k.starts_with(state_key::PREFIX.as_bytes())));
    let bad =
        serde_json::json!({"base_header": {"height": 0, "header": "00", "cumulative_work": "2"}});
    assert!(module
        .init_genesis(&mut MemState::new(), &Default::default(), Some(&bad))
        .is_err());
}

// ---- property: random forks ------------------------------------------------------------------

mod random_forks {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random sequences of branches off random known headers: after every message the tip
        /// is a header of maximal work (the earliest such when tied), the best-chain index is
        /// exactly the tip's ancestry, and the change set moves the old chain to the new one.
        #[test]
        fn tip_is_max_work_and_the_index_is_the_tips_ancestry(
            ops in proptest::collection::vec((any::<prop::sample::Index>(), 1usize..5), 1..16)
        ) {
            let mut s = regtest_state();
            let g = regtest_genesis();
            // Model: hash -> (header, height); insertion order.
            let mut known: Vec<(Header, u64)> = vec![(g, 0)];
            let mut by_hash: BTreeMap<BlockHash, (Header, u64)> = BTreeMap::new();
            by_hash.insert(g.block_hash(), (g, 0));
            let mut model_tip = (g.block_hash(), 0u64);
            for (n, (pick, len)) in ops.iter().enumerate() {
                let (parent, parent_height) = known[pick.index(known.len())];
                let branch = regtest_chain(&parent, *len, n as u32 + 1);
                let old_chain = best_chain(&by_hash, model_tip.0);
                let change = insert(&mut s, &branch).unwrap();
                for (i, h) in branch.iter().enumerate() {
                    let height = parent_height + 1 + i as u64;
                    known.push((*h, height));
                    by_hash.insert(h.block_hash(), (*h, height));
                }
                let last = branch.last().unwrap();
                let last_height = parent_height + *len as u64;
                // Equal work per header: more work = greater height; ties keep the tip.
                if last_height > model_tip.1 {
                    model_tip = (last.block_hash(), last_height);
                }
                let tip = s.btc_tip().unwrap();
                prop_assert_eq!(tip.hash, model_tip.0);
                let max_height = known.iter().map(|(_, h)| *h).max().unwrap();
                prop_assert_eq!(tip.height, max_height);
                prop_assert_eq!(tip.cumulative_work, ChainWork::from_be_bytes({
                    let mut b = [0u8; 32];
                    b[24..].copy_from_slice(&(2 * (tip.height + 1)).to_be_bytes());
                    b
                }));

                // The index is the tip's ancestry and nothing above it.
                let chain = best_chain(&by_hash, model_tip.0);
                for (h, hash) in chain.iter().enumerate() {
                    prop_assert_eq!(
                        s.btc_header_at_height(h as u64).unwrap().map(|i| i.hash),
                        Some(*hash)
                    );
                }
                prop_assert_eq!(s.btc_header_at_height(chain.len() as u64).unwrap(), None);

                // The change set turns the old chain into the new one.
                let mut applied = old_chain.clone();
                for b in &change.rolled_back {
                    prop_assert_eq!(applied.pop(), Some(b.hash));
                }
                for b in &change.rolled_forward {
                    prop_assert_eq!(applied.len() as u64, b.height);
                    applied.push(b.hash);
                }
                prop_assert_eq!(applied, chain);
                prop_assert_eq!(change.added.len(), *len);
            }
        }
    }

    /// Hashes from the genesis up to `tip`, by height.
    fn best_chain(by_hash: &BTreeMap<BlockHash, (Header, u64)>, tip: BlockHash) -> Vec<BlockHash> {
        let mut out = Vec::new();
        let mut cur = tip;
        while let Some((h, height)) = by_hash.get(&cur) {
            out.push(cur);
            if *height == 0 {
                break;
            }
            cur = h.prev_blockhash;
        }
        out.reverse();
        out
    }
}
