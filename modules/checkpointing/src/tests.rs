//! Unit tests of the whole module over the in-memory state: snapshots and bitmap order, key
//! registration, vote extensions, aggregation and sealing, SPV submissions in regtest blocks
//! mined here, k/w tracking with reorgs, the messages, hooks and queries.

use crate::error::CODESPACE;
use crate::events::parse_checkpoint_status;
use crate::register::{consensus_key_address, registration_sign_bytes};
use crate::testutil::*;
use crate::tracking::on_tip_change;
use crate::*;
use ballast_btclightclient::{BtcLightClientModule, BtcLightClientRead};
use ballast_framework::{
    sdk, Address, BlockContext, BlockHash, ConsensusAddress, ErrorCode, MemState, Module,
    MsgHandler, TxContext, TxError,
};
use ballast_proto::ballast::checkpointing::v1 as pb;
use prost::Message;
use std::sync::Arc;

/// Runs `f`; it must fail, and the state (entries and events) must be as before.
fn rejects<T: std::fmt::Debug>(
    s: &mut MemState,
    f: impl FnOnce(&mut MemState) -> Result<T, CheckpointingError>,
) -> CheckpointingError {
    let before = dump(s);
    let mut scratch = s.clone();
    let err = f(&mut scratch).expect_err("must be rejected");
    // Callers run messages on an overlay that is dropped on error, but the functions
    // themselves write nothing before they fail: check on the scratch copy directly.
    assert_eq!(dump(&scratch), before, "rejection changed state: {err}");
    err
}

fn status_events(s: &mut MemState) -> Vec<(u64, String, String)> {
    s.take_events()
        .iter()
        .filter_map(parse_checkpoint_status)
        .map(|e| (e.epoch, e.old_status, e.new_status))
        .collect()
}

fn st(s: CheckpointStatus) -> String {
    s.as_str().to_string()
}

// ---- snapshots and keys ---------------------------------------------------------------------

#[test]
fn snapshots_order_by_power_then_address_and_that_order_is_the_bitmap() {
    let mut s = base_state();
    for i in 0..5 {
        register_bls_key(&mut s, addr(i), proven(i), 0).unwrap();
    }
    // Powers: 2 has the most; 0 and 4 tie (address breaks it); 1 and 3 tie.
    let set = [
        (addr(3), 5),
        (addr(0), 20),
        (addr(2), 50),
        (addr(4), 20),
        (addr(1), 5),
    ];
    let snap = snapshot_validators(&mut s, 2, &set).unwrap();
    let order: Vec<ConsensusAddress> = snap.validators.iter().map(|v| v.address).collect();
    assert_eq!(order, vec![addr(2), addr(0), addr(4), addr(1), addr(3)]);
    assert_eq!(snap.total_power, 100);
    assert_eq!(snap.quorum_power(), 67);
    assert!(snap.exceeds_two_thirds(67) && !snap.exceeds_two_thirds(66));
    assert_eq!(s.validator_snapshot(2).unwrap().unwrap(), snap);

    // Validators 2, 4 and 1 (positions 0, 2, 3) sign: the bitmap holds exactly those bits.
    begin_checkpoint(&mut s, 2, &epoch_hash(2), 20).unwrap();
    let exts: Vec<(ConsensusAddress, Vec<u8>)> = [2usize, 4, 1]
        .iter()
        .map(|i| (addr(*i), extend_vote(&bls_key(*i), 2, &epoch_hash(2))))
        .collect();
    let raw = aggregate(&s, 2, &exts).unwrap();
    assert_eq!(raw.bitmap.positions().collect::<Vec<_>>(), vec![0, 2, 3]);
    assert_eq!(raw.bitmap.to_bytes()[0], 0b0000_1101);
    let v = verify_raw_checkpoint(&s, &raw).unwrap();
    assert_eq!((v.signed_power(), v.total_power()), (75, 100));
}

#[test]
fn bad_validator_sets_are_rejected_and_change_nothing() {
    let mut s = base_state();
    let reason = |e: CheckpointingError| match e {
        CheckpointingError::InvalidSnapshot { reason, .. } => reason,
        other => panic!("expected InvalidSnapshot, got {other:?}"),
    };
    assert!(reason(rejects(&mut s, |s| snapshot_validators(
        s,
        0,
        &[(addr(0), 1)]
    )))
    .contains("start at 1"));
    assert!(reason(rejects(&mut s, |s| snapshot_validators(s, 1, &[]))).contains("empty"));
    assert!(reason(rejects(&mut s, |s| {
        snapshot_validators(s, 1, &[(addr(0), 1), (addr(0), 2)])
    }))
    .contains("twice"));
    assert!(reason(rejects(&mut s, |s| snapshot_validators(
        s,
        1,
        &[(addr(0), 0)]
    )))
    .contains("zero power"));
    assert!(reason(rejects(&mut s, |s| {
        snapshot_validators(s, 1, &[(addr(0), u64::MAX), (addr(1), 1)])
    }))
    .contains("exceeds"));
    let too_many: Vec<(ConsensusAddress, u64)> = (0..101)
        .map(|i| (ConsensusAddress([i as u8; 20]), 1))
        .collect();
    let r = reason(rejects(&mut s, |s| snapshot_validators(s, 1, &too_many)));
    assert!(
        r.contains("101 validators") && r.contains("max_validators = 100"),
        "{r}"
    );
    // Exactly max_validators is fine, once.
    snapshot_validators(&mut s, 1, &too_many[..100]).unwrap();
    assert!(matches!(
        rejects(&mut s, |s| snapshot_validators(s, 1, &[(addr(0), 1)])),
        CheckpointingError::SnapshotExists { epoch: 1 }
    ));
}

#[test]
fn validators_without_a_key_count_towards_power_but_cannot_sign() {
    let mut s = base_state();
    register_bls_key(&mut s, addr(0), proven(0), 0).unwrap();
    s.take_events();
    let snap = snapshot_validators(&mut s, 1, &[(addr(0), 60), (addr(1), 40)]).unwrap();
    assert_eq!(snap.validators[1].bls_key, None);
    let ev = s.take_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].get("without_bls_key"),
        Some(format!("[\"{}\"]", hex::encode(addr(1).0)).as_str())
    );
    begin_checkpoint(&mut s, 1, &epoch_hash(1), 10).unwrap();
    // Validator 0 alone has 60 of 100: not enough, and 1 cannot help.
    let ext0 = extend_vote(&bls_key(0), 1, &epoch_hash(1));
    let ext1 = extend_vote(&bls_key(1), 1, &epoch_hash(1));
    assert!(matches!(
        verify_vote_extension(&s, &addr(1), 1, &epoch_hash(1), &ext1),
        Err(CheckpointingError::NoBlsKey { epoch: 1, .. })
    ));
    assert!(matches!(
        aggregate(&s, 1, &[(addr(0), ext0.clone()), (addr(1), ext1)]),
        Err(CheckpointingError::InsufficientPower {
            signed: 60,
            total: 100,
            needed: 67,
            ..
        })
    ));
    // A forged bitmap naming the keyless validator is refused.
    let mut bitmap = ValidatorBitmap::empty();
    bitmap.set(0);
    bitmap.set(1);
    let raw = RawCheckpoint {
        epoch: 1,
        block_hash: epoch_hash(1),
        bitmap,
        signature: VoteExtension::from_bytes(&ext0).unwrap().signature,
    };
    assert!(matches!(
        verify_raw_checkpoint(&s, &raw),
        Err(CheckpointingError::NoBlsKey { .. })
    ));
}

#[test]
fn keys_are_registered_once_and_never_shared() {
    let mut s = base_state();
    let info = register_bls_key(&mut s, addr(0), proven(0), 7).unwrap();
    assert_eq!(info.registered_at_height, 7);
    assert_eq!(s.bls_key(&addr(0)).unwrap(), Some(info));
    assert_eq!(s.bls_key_owner(proven(0).pubkey()).unwrap(), Some(addr(0)));
    assert_eq!(s.take_events()[0].kind, events::BLS_KEY_REGISTERED);
    // The same key again, another key for the same validator, the key for another validator.
    for (v, k) in [(0, 0), (0, 1)] {
        assert!(matches!(
            rejects(&mut s, |s| register_bls_key(s, addr(v), proven(k), 8)),
            CheckpointingError::BlsKeyAlreadyRegistered { .. }
        ));
    }
    let e = rejects(&mut s, |s| register_bls_key(s, addr(1), proven(0), 8));
    assert!(matches!(e, CheckpointingError::BlsKeyInUse { .. }));
    assert!(e.to_string().contains("generate a new key"), "{e}");
}

#[test]
fn proofs_of_possession_are_checked_on_every_way_in() {
    let k0 = bls_key(0);
    let k1 = bls_key(1);
    let pk = k0.public_key().to_bytes();
    assert!(ProvenBlsKey::new(&pk, &k0.proof_of_possession().to_bytes()).is_ok());
    // Another key's proof, a checkpoint-domain signature, garbage, a bad key.
    for pop in [
        k1.proof_of_possession().to_bytes(),
        k0.sign(&pk).to_bytes(),
        [0u8; 48],
    ] {
        assert!(matches!(
            ProvenBlsKey::new(&pk, &pop),
            Err(CheckpointingError::InvalidProofOfPossession { .. })
        ));
    }
    assert!(matches!(
        ProvenBlsKey::new(&pk[..95], &k0.proof_of_possession().to_bytes()),
        Err(CheckpointingError::InvalidBlsKey(_))
    ));

    // Genesis applies the same checks.
    let entry = |i: usize, pop: [u8; 48]| genesis::GenesisBlsKey {
        validator_address: hex::encode(addr(i).0).to_uppercase(),
        bls_pubkey: hex::encode(bls_key(i).public_key().to_bytes()),
        pop: hex::encode(pop),
    };
    let good = |i: usize| entry(i, bls_key(i).proof_of_possession().to_bytes());
    let apply = |keys: Vec<genesis::GenesisBlsKey>| {
        let mut s = base_state();
        GenesisState {
            params: Params::default(),
            bls_keys: keys,
        }
        .apply(&mut s)
        .map(|_| s)
    };
    let s = apply(vec![good(0), good(1)]).unwrap();
    assert!(s.bls_key(&addr(1)).unwrap().is_some());
    let msg = |r: Result<MemState, CheckpointingError>| match r {
        Err(CheckpointingError::InvalidGenesis(m)) => m,
        other => panic!("expected InvalidGenesis, got {:?}", other.map(|_| ())),
    };
    assert!(msg(apply(vec![entry(
        0,
        bls_key(1).proof_of_possession().to_bytes()
    )]))
    .contains("proof of possession"));
    assert!(msg(apply(vec![good(0), good(0)])).contains("already has bls key"));
    let mut shared = good(1);
    shared.bls_pubkey = good(0).bls_pubkey;
    shared.pop = good(0).pop;
    assert!(msg(apply(vec![good(0), shared])).contains("already registered to validator"));
    let mut bad_addr = good(0);
    bad_addr.validator_address = "abcd".into();
    assert!(msg(apply(vec![bad_addr])).contains("40 hex digits"));
    let mut bad_hex = good(0);
    bad_hex.pop = "zz".into();
    assert!(msg(apply(vec![bad_hex])).contains("pop"));
}

// ---- MsgRegisterBlsKey ----------------------------------------------------------------------

fn consensus_key(i: u8) -> ed25519_consensus::SigningKey {
    ed25519_consensus::SigningKey::from([i; 32])
}

/// A registration of BLS key `bls` for the validator of consensus key `ck`, signed for
/// `chain_id` by the consensus key `signing_ck`.
fn register_msg(ck: u8, bls: usize, chain_id: &str, signing_ck: u8) -> pb::MsgRegisterBlsKey {
    let vk = consensus_key(ck).verification_key();
    let validator = consensus_key_address(&vk.to_bytes());
    let pk = bls_key(bls).public_key().to_bytes();
    let signer = Address([0x33; 20]);
    let sig = consensus_key(signing_ck)
        .sign(&registration_sign_bytes(chain_id, &validator, &pk, &signer));
    pb::MsgRegisterBlsKey {
        signer: signer.to_string(),
        validator_address: validator.0.to_vec(),
        bls_pubkey: pk.to_vec(),
        pop: bls_key(bls).proof_of_possession().to_bytes().to_vec(),
        consensus_pubkey: vk.to_bytes().to_vec(),
        consensus_signature: sig.to_bytes().to_vec(),
    }
}

fn block(height: u64) -> BlockContext {
    BlockContext {
        chain_id: "ballast-test-1".into(),
        height,
        hash: BlockHash([height as u8; 32]),
        ..Default::default()
    }
}

fn run_msg(s: &mut MemState, any: &prost_types::Any, height: u64) -> Result<(), TxError> {
    let m = CheckpointingModule
        .decode_msg(any)
        .expect("checkpointing message")?;
    m.check_stateless()?;
    let b = block(height);
    let signers = m.signers();
    let ctx = TxContext {
        block: &b,
        tx_hash: [0; 32],
        signers: &signers,
    };
    // As the tx pipeline does: execute on an overlay, keep it only on success.
    let mut overlay = ballast_framework::Overlay::new(&mut *s);
    m.execute(&mut overlay, &ctx)?;
    overlay.commit().map_err(TxError::from)?;
    Ok(())
}

fn any_of<M: Message>(type_url: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

#[test]
fn register_bls_key_message_needs_the_validators_consensus_signature() {
    let mut s = base_state();
    let url = MsgRegisterBlsKey::TYPE_URL;
    assert_eq!(url, "/ballast.checkpointing.v1.MsgRegisterBlsKey");
    let good = register_msg(1, 0, "ballast-test-1", 1);
    run_msg(&mut s, &any_of(url, &good), 5).unwrap();
    let validator = ConsensusAddress(good.validator_address.clone().try_into().unwrap());
    let info = s.bls_key(&validator).unwrap().unwrap();
    assert_eq!(info.registered_at_height, 5);
    assert_eq!(info.key.pubkey(), &bls_key(0).public_key());
    let ev = s.take_events();
    assert_eq!(ev[0].kind, events::BLS_KEY_REGISTERED);
    assert_eq!(ev[1].get("action"), Some(url));

    let code = |r: Result<(), TxError>| {
        let e = r.unwrap_err();
        assert!(!e.fatal);
        (e.codespace, e.code)
    };
    let try_any = |s: &mut MemState, any: &prost_types::Any| {
        let before = dump(s);
        let r = run_msg(s, any, 6);
        assert_eq!(dump(s), before);
        r
    };
    let try_run = |s: &mut MemState, m: &pb::MsgRegisterBlsKey| try_any(s, &any_of(url, m));
    // Signed for another chain, or by another consensus key.
    assert_eq!(
        code(try_run(&mut s, &register_msg(2, 1, "other-chain", 2))),
        (CODESPACE, 11)
    );
    assert_eq!(
        code(try_run(&mut s, &register_msg(2, 1, "ballast-test-1", 3))),
        (CODESPACE, 11)
    );
    // The consensus key does not hash to the validator address.
    let mut wrong_addr = register_msg(2, 1, "ballast-test-1", 2);
    wrong_addr.validator_address = vec![9; 20];
    assert_eq!(code(try_run(&mut s, &wrong_addr)), (CODESPACE, 10));
    // Bad proof of possession, bad key, bad lengths, bad signer.
    let mut bad_pop = register_msg(2, 1, "ballast-test-1", 2);
    bad_pop.pop = bls_key(2).proof_of_possession().to_bytes().to_vec();
    assert_eq!(code(try_run(&mut s, &bad_pop)), (CODESPACE, 7));
    let mut bad_key = register_msg(2, 1, "ballast-test-1", 2);
    bad_key.bls_pubkey[0] ^= 0x01;
    assert_eq!(code(try_run(&mut s, &bad_key)), (CODESPACE, 6));
    let mut short_addr = register_msg(2, 1, "ballast-test-1", 2);
    short_addr.validator_address.pop();
    assert_eq!(code(try_run(&mut s, &short_addr)), (CODESPACE, 5));
    let mut short_sig = register_msg(2, 1, "ballast-test-1", 2);
    short_sig.consensus_signature.pop();
    assert_eq!(code(try_run(&mut s, &short_sig)), (CODESPACE, 10));
    let mut bad_signer = register_msg(2, 1, "ballast-test-1", 2);
    bad_signer.signer = "cosmos1xyz".into();
    assert_eq!(
        code(try_run(&mut s, &bad_signer)),
        (sdk::CODESPACE, sdk::INVALID_ADDRESS)
    );
    let garbage = prost_types::Any {
        type_url: url.into(),
        value: vec![0xff, 0xff],
    };
    assert_eq!(
        code(try_any(&mut s, &garbage)),
        (sdk::CODESPACE, sdk::TX_DECODE)
    );
    // Registering again (any key) or reusing validator 1's key for another validator.
    assert_eq!(
        code(try_run(&mut s, &register_msg(1, 1, "ballast-test-1", 1))),
        (CODESPACE, 8)
    );
    assert_eq!(
        code(try_run(&mut s, &register_msg(2, 0, "ballast-test-1", 2))),
        (CODESPACE, 9)
    );
    // A second validator with its own key is fine.
    run_msg(
        &mut s,
        &any_of(url, &register_msg(2, 1, "ballast-test-1", 2)),
        7,
    )
    .unwrap();
}

// ---- vote extensions, aggregation, sealing --------------------------------------------------

/// Four validators with powers 40, 30, 20, 10 (positions 0..3) for epoch 1, ended.
fn four() -> (MemState, Vec<TestValidator>) {
    let mut s = base_state();
    let vals = validators(&mut s, 1, &[40, 30, 20, 10], &[]);
    begin_checkpoint(&mut s, 1, &epoch_hash(1), 10).unwrap();
    s.take_events();
    (s, vals)
}

fn exts(
    vals: &[TestValidator],
    who: &[usize],
    epoch: u64,
    hash: &BlockHash,
) -> Vec<(ConsensusAddress, Vec<u8>)> {
    who.iter()
        .map(|i| (vals[*i].address, extend_vote(&vals[*i].key, epoch, hash)))
        .collect()
}

#[test]
fn vote_extensions_verify_and_every_tampering_is_named() {
    let (s, vals) = four();
    let h = epoch_hash(1);
    let ext = extend_vote(&vals[1].key, 1, &h);
    assert_eq!(ext.len(), 88);
    assert_eq!(&ext[..8], &1u64.to_be_bytes());
    assert_eq!(&ext[8..40], &h.0);
    verify_vote_extension(&s, &vals[1].address, 1, &h, &ext).unwrap();

    let err = |r: Result<(), CheckpointingError>| {
        let e = r.unwrap_err();
        (e.code(), e.to_string())
    };
    // Missing.
    assert_eq!(
        err(verify_vote_extension(&s, &vals[1].address, 1, &h, &[])).0,
        15
    );
    // Malformed: short, long, not a curve point.
    assert_eq!(
        err(verify_vote_extension(
            &s,
            &vals[1].address,
            1,
            &h,
            &ext[..87]
        ))
        .0,
        16
    );
    let mut long = ext.clone();
    long.push(0);
    assert_eq!(
        err(verify_vote_extension(&s, &vals[1].address, 1, &h, &long)).0,
        16
    );
    let mut not_point = ext.clone();
    not_point[40] = 0x80;
    not_point[41..].fill(0);
    assert_eq!(
        err(verify_vote_extension(
            &s,
            &vals[1].address,
            1,
            &h,
            &not_point
        ))
        .0,
        16
    );
    // Signed for another epoch, or another block.
    let (code, msg) = err(verify_vote_extension(&s, &vals[1].address, 2, &h, &ext));
    assert_eq!(code, 17);
    assert!(msg.contains("signs epoch 1, expected epoch 2"), "{msg}");
    assert_eq!(
        err(verify_vote_extension(
            &s,
            &vals[1].address,
            1,
            &epoch_hash(9),
            &ext
        ))
        .0,
        18
    );
    // Epoch and hash rewritten but the signature kept: the signature fails.
    let mut rewritten = extend_vote(&vals[1].key, 1, &epoch_hash(9));
    rewritten[8..40].copy_from_slice(&h.0);
    assert_eq!(
        err(verify_vote_extension(
            &s,
            &vals[1].address,
            1,
            &h,
            &rewritten
        ))
        .0,
        21
    );
    // Another validator's signature under this validator's name.
    let theirs = extend_vote(&vals[2].key, 1, &h);
    assert_eq!(
        err(verify_vote_extension(&s, &vals[1].address, 1, &h, &theirs)).0,
        21
    );
    // Not in the snapshot; no snapshot for the epoch.
    assert_eq!(err(verify_vote_extension(&s, &addr(7), 1, &h, &ext)).0, 19);
    let ext5 = extend_vote(&vals[1].key, 5, &h);
    assert_eq!(
        err(verify_vote_extension(&s, &vals[1].address, 5, &h, &ext5)).0,
        14
    );
}

#[test]
fn aggregation_needs_more_than_two_thirds_and_ignores_bad_extensions() {
    let (mut s, vals) = four();
    let h = epoch_hash(1);
    // 40 + 30 = 70 of 100: sealed.
    let raw = aggregate(&s, 1, &exts(&vals, &[0, 1], 1, &h)).unwrap();
    assert_eq!(raw.bitmap.positions().collect::<Vec<_>>(), vec![0, 1]);
    // 40 + 20 = 60: not more than 2/3 (the exact 2/3 case is `exactly_two_thirds_...`).
    assert!(matches!(
        aggregate(&s, 1, &exts(&vals, &[0, 2], 1, &h)),
        Err(CheckpointingError::InsufficientPower {
            signed: 60,
            total: 100,
            needed: 67,
            ..
        })
    ));
    // Tampered extensions do not count: wrong epoch, wrong signature, garbage, unknown
    // validator, a repeat of a counted one.
    let mut bad = exts(&vals, &[0], 1, &h);
    bad.push((vals[1].address, extend_vote(&vals[1].key, 2, &h)));
    bad.push((vals[2].address, extend_vote(&vals[0].key, 1, &h)));
    bad.push((vals[3].address, vec![1, 2, 3]));
    bad.push((addr(9), extend_vote(&bls_key(9), 1, &h)));
    bad.push((vals[0].address, extend_vote(&vals[0].key, 1, &h)));
    assert!(matches!(
        aggregate(&s, 1, &bad),
        Err(CheckpointingError::InsufficientPower { signed: 40, .. })
    ));
    // An invalid signature in a group that would otherwise pass is dropped, the rest sealed.
    let mut mixed = exts(&vals, &[0, 1], 1, &h);
    mixed.push((vals[2].address, extend_vote(&vals[3].key, 1, &h)));
    let r = aggregate(&s, 1, &mixed).unwrap();
    assert_eq!(r.bitmap.positions().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(r, raw);
    // The aggregate matches blst's: verifying it against the two keys succeeds directly.
    r.signature
        .fast_aggregate_verify(
            &bls::checkpoint_message(1, &h.0),
            &[&vals[0].key.public_key(), &vals[1].key.public_key()],
        )
        .unwrap();
    // No extension at all.
    let none: Vec<(ConsensusAddress, Vec<u8>)> = vec![];
    assert!(matches!(
        aggregate(&s, 1, &none),
        Err(CheckpointingError::InsufficientPower { signed: 0, .. })
    ));

    // Sealing.
    set_hub_height(&mut s, 11).unwrap();
    let rec = apply_raw_checkpoint(&mut s, 11, &raw).unwrap();
    assert_eq!(rec.status, CheckpointStatus::Sealed);
    assert_eq!((rec.signed_power, rec.total_power), (70, 100));
    assert_eq!(rec.raw, Some(raw));
    assert_eq!(
        rec.lifecycle
            .iter()
            .map(|l| (l.status, l.hub_height, l.btc_height))
            .collect::<Vec<_>>(),
        vec![
            (CheckpointStatus::Accumulating, 10, 0),
            (CheckpointStatus::Sealed, 11, 0)
        ]
    );
    assert_eq!(s.checkpoint(1).unwrap(), Some(rec));
    assert_eq!(
        status_events(&mut s),
        vec![(
            1,
            st(CheckpointStatus::Accumulating),
            st(CheckpointStatus::Sealed)
        )]
    );
    // Sealing twice is refused.
    assert!(matches!(
        rejects(&mut s, |s| apply_raw_checkpoint(s, 12, &raw)),
        CheckpointingError::AlreadySealed { .. }
    ));
}

#[test]
fn exactly_two_thirds_is_not_enough() {
    let mut s = base_state();
    let vals = validators(&mut s, 1, &[1, 1, 1], &[]);
    begin_checkpoint(&mut s, 1, &epoch_hash(1), 10).unwrap();
    assert!(matches!(
        aggregate(&s, 1, &exts(&vals, &[0, 1], 1, &epoch_hash(1))),
        Err(CheckpointingError::InsufficientPower {
            signed: 2,
            total: 3,
            needed: 3,
            ..
        })
    ));
    assert!(aggregate(&s, 1, &exts(&vals, &[0, 1, 2], 1, &epoch_hash(1))).is_ok());
}

#[test]
fn the_block_hash_with_the_most_power_is_aggregated() {
    let (s, vals) = four();
    let h = epoch_hash(1);
    let other = epoch_hash(77);
    // 70 on the epoch's block, 30 on another: the 70 win.
    let mut split = exts(&vals, &[0, 2, 3], 1, &h);
    split.extend(exts(&vals, &[1], 1, &other));
    let raw = aggregate(&s, 1, &split).unwrap();
    assert_eq!(raw.block_hash, h);
    assert_eq!(raw.bitmap.positions().collect::<Vec<_>>(), vec![0, 2, 3]);
    // 70 on another block than the epoch's last: that hash wins the count, and the result is
    // refused because it does not sign the epoch's last block.
    let mut wrong = exts(&vals, &[0, 1], 1, &other);
    wrong.extend(exts(&vals, &[2, 3], 1, &h));
    assert!(matches!(
        aggregate(&s, 1, &wrong),
        Err(CheckpointingError::BlockHashMismatch { .. })
    ));
}

#[test]
fn raw_checkpoints_are_verified_against_the_snapshot_and_keys() {
    let (mut s, vals) = four();
    let h = epoch_hash(1);
    let raw = aggregate(&s, 1, &exts(&vals, &[0, 1, 2], 1, &h)).unwrap();
    verify_raw_checkpoint(&s, &raw).unwrap();
    let code = |r: &RawCheckpoint, s: &MemState| verify_raw_checkpoint(s, r).unwrap_err().code();
    // A bitmap that claims a signer that did not sign: the aggregate no longer verifies.
    let mut extra = raw;
    extra.bitmap.set(3);
    assert_eq!(code(&extra, &s), 25);
    // A bitmap that drops a signer: the aggregate no longer verifies either.
    let mut fewer = raw;
    fewer.bitmap = ValidatorBitmap::empty();
    for p in [0, 1] {
        fewer.bitmap.set(p);
    }
    assert_eq!(code(&fewer, &s), 25);
    // Beyond the snapshot.
    let mut beyond = raw;
    beyond.bitmap.set(4);
    let e = verify_raw_checkpoint(&s, &beyond).unwrap_err();
    assert!(matches!(
        e,
        CheckpointingError::BitmapOutOfRange {
            position: 4,
            validators: 4,
            ..
        }
    ));
    // Too little power even if the signature were right.
    let mut low = raw;
    low.bitmap = ValidatorBitmap::empty();
    low.bitmap.set(3);
    assert_eq!(code(&low, &s), 22);
    // Another block, another epoch (not ended), a signature over another message.
    let mut other_hash = raw;
    other_hash.block_hash = epoch_hash(2);
    assert_eq!(code(&other_hash, &s), 28);
    let mut later = raw;
    later.epoch = 2;
    assert_eq!(code(&later, &s), 26);
    let other_msg = aggregate(&s, 1, &exts(&vals, &[0, 1, 2], 1, &h)).unwrap();
    let mut swapped = raw;
    swapped.signature = vals[0].key.sign_checkpoint(1, &epoch_hash(2).0);
    assert_eq!(code(&swapped, &s), 25);
    assert_eq!(other_msg, raw, "aggregation is deterministic");
    // The injected tx's bytes round-trip, and a rejected apply writes nothing.
    assert_eq!(RawCheckpoint::from_bytes(&raw.to_bytes()).unwrap(), raw);
    rejects(&mut s, |s| apply_raw_checkpoint(s, 11, &extra));
    rejects(&mut s, |s| apply_raw_checkpoint(s, 11, &beyond));
}

#[test]
fn an_epoch_is_opened_once_and_only_after_its_end() {
    let mut s = base_state();
    validators(&mut s, 1, &[1], &[]);
    let rec = begin_checkpoint(&mut s, 1, &epoch_hash(1), 10).unwrap();
    assert_eq!(rec.status, CheckpointStatus::Accumulating);
    assert_eq!(rec.block_hash, epoch_hash(1));
    assert_eq!(
        status_events(&mut s),
        vec![(1, String::new(), st(CheckpointStatus::Accumulating))]
    );
    assert!(matches!(
        rejects(&mut s, |s| begin_checkpoint(s, 1, &epoch_hash(1), 10)),
        CheckpointingError::CheckpointExists { epoch: 1 }
    ));
}

// ---- SPV submissions --------------------------------------------------------------------------

/// Epoch 1 sealed by four validators, the hub at height 12.
fn sealed_epoch() -> (MemState, RawCheckpoint, Vec<TestValidator>) {
    let mut s = base_state();
    let vals = validators(&mut s, 1, &[40, 30, 20, 10], &[]);
    let raw = sealed(&mut s, 1, &vals);
    set_hub_height(&mut s, 12).unwrap();
    (s, raw, vals)
}

/// Blocks 1 and 2 on the regtest genesis holding tx0 (index 1) and tx1 (index 2 after a filler)
/// of `raw`, inserted into the light client.
fn submitted_chain(s: &mut MemState, raw: &RawCheckpoint) -> (TestBlock, TestBlock) {
    let (tx0, tx1) = checkpoint_txs(raw, &SUBMITTER, CheckpointTag::DEFAULT, 1);
    let filler = checkpoint_txs(raw, &SUBMITTER, CheckpointTag::DEFAULT, 200).0;
    let b1 = mine_block(&genesis_header(), vec![tx0], 1);
    let b2 = mine_block(&b1.header, vec![filler, tx1], 2);
    insert(s, &[b1.clone(), b2.clone()]);
    (b1, b2)
}

fn submit(
    s: &mut MemState,
    p: &pb::MsgInsertBtcSpvProof,
) -> Result<spv::SubmissionOutcome, CheckpointingError> {
    let m = MsgInsertBtcSpvProof::from_proto(p)?;
    let h = s.hub_height().unwrap();
    spv::insert_spv_proof(s, &m, h)
}

#[test]
fn a_submission_in_regtest_blocks_is_recorded_and_the_checkpoint_submitted() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    let out = submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    assert_eq!(out.epoch, 1);
    assert!(!out.replaced);
    assert_eq!(
        out.changes,
        vec![tracking::StatusChange {
            epoch: 1,
            from: CheckpointStatus::Sealed,
            to: CheckpointStatus::Submitted
        }]
    );
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Submitted);
    let sub = rec.submission.unwrap();
    assert_eq!(sub.submitter, SUBMITTER);
    assert_eq!(sub.reporter, REPORTER);
    assert_eq!(sub.part0.txid, b1.txs[1].compute_txid());
    assert_eq!(sub.part1.txid, b2.txs[2].compute_txid());
    assert_eq!(
        (
            sub.part0.block_hash,
            sub.part0.block_height,
            sub.part0.tx_index
        ),
        (b1.hash(), 1, 1)
    );
    assert_eq!(
        (
            sub.part1.block_hash,
            sub.part1.block_height,
            sub.part1.tx_index
        ),
        (b2.hash(), 2, 2)
    );
    assert_eq!(sub.recorded_at_height, 12);
    let last = rec.lifecycle.last().unwrap();
    assert_eq!(
        (last.status, last.hub_height, last.btc_height),
        (CheckpointStatus::Submitted, 12, 2)
    );
    let ev = s.take_events();
    assert_eq!(ev[0].kind, events::SUBMISSION_RECORDED);
    assert_eq!(
        ev[0].get("submitter"),
        Some(format!("\"{SUBMITTER}\"").as_str())
    );
    assert_eq!(
        ev[0].get("part1_txid"),
        Some(format!("\"{}\"", sub.part1.txid).as_str())
    );
    assert_eq!(
        parse_checkpoint_status(&ev[1]).unwrap().new_status,
        st(CheckpointStatus::Submitted)
    );

    // Both parts in one block (tx1 after tx0) are fine too.
    let (mut s, raw, _) = sealed_epoch();
    let (tx0, tx1) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag::DEFAULT, 3);
    let b = mine_block(&genesis_header(), vec![tx0, tx1], 5);
    insert(&mut s, std::slice::from_ref(&b));
    submit(&mut s, &report(&b, 1, &b, 2)).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Submitted
    );
}

#[test]
fn bad_proofs_and_mismatched_checkpoints_are_rejected_and_change_nothing() {
    let (mut s, raw, vals) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    let good = report(&b1, 1, &b2, 2);
    let code = |s: &mut MemState, p: &pb::MsgInsertBtcSpvProof| rejects(s, |s| submit(s, p)).code();

    // A forged Merkle branch, a wrong index.
    let mut forged = good.clone();
    forged.proofs[1].merkle_nodes[3] ^= 1;
    assert_eq!(code(&mut s, &forged), 33);
    let mut wrong_index = good.clone();
    wrong_index.proofs[1].btc_transaction_index = 3;
    assert_eq!(code(&mut s, &wrong_index), 33);
    // The proof of another transaction of the block under this one's index.
    let mut other_tx = good.clone();
    other_tx.proofs[1].merkle_nodes = b2.proof(1).merkle_nodes;
    assert_eq!(code(&mut s, &other_tx), 33);
    // An unknown header: the same transactions in a block the light client never saw.
    let unseen = mine_block(&b2.header, vec![b1.txs[1].clone(), b2.txs[2].clone()], 77);
    let e = rejects(&mut s, |s| submit(s, &report(&unseen, 1, &unseen, 2)));
    assert!(e.to_string().contains("spv proof 0"), "{e}");
    assert!(
        crate::error::with_sources(&e).contains("not known to the light client"),
        "{}",
        crate::error::with_sources(&e)
    );
    // A fork header: known, not on the best chain.
    let fork = mine_block(
        &genesis_header(),
        vec![b1.txs[1].clone(), b2.txs[2].clone()],
        78,
    );
    insert(&mut s, std::slice::from_ref(&fork));
    assert!(!s.btc_is_on_best_chain(&fork.hash()).unwrap());
    let e = rejects(&mut s, |s| submit(s, &report(&fork, 1, &fork, 2)));
    assert!(
        crate::error::with_sources(&e).contains("not on the best chain"),
        "{e}"
    );

    // Shape: one proof, three proofs, bad transaction bytes, ragged branch, short hash.
    let mut one = good.clone();
    one.proofs.pop();
    assert_eq!(code(&mut s, &one), 30);
    let mut three = good.clone();
    three.proofs.push(good.proofs[0].clone());
    assert_eq!(code(&mut s, &three), 30);
    let mut bad_tx = good.clone();
    bad_tx.proofs[0].btc_transaction.push(0);
    assert_eq!(code(&mut s, &bad_tx), 31);
    let mut ragged = good.clone();
    ragged.proofs[0].merkle_nodes.pop();
    assert_eq!(code(&mut s, &ragged), 31);
    let mut short_hash = good.clone();
    short_hash.proofs[1].confirming_btc_header_hash.pop();
    assert_eq!(code(&mut s, &short_hash), 31);
    let mut bad_reporter = good.clone();
    bad_reporter.submitter = "nope".into();
    assert_eq!(code(&mut s, &bad_reporter), sdk::INVALID_ADDRESS);

    // Parts swapped (tx0 does not spend tx1), or part 1's tx spending something else.
    let swapped = report(&b2, 2, &b1, 1);
    assert_eq!(code(&mut s, &swapped), 34);
    let (_, unchained) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag::DEFAULT, 9);
    let b3 = mine_block(&b2.header, vec![unchained], 3);
    insert(&mut s, std::slice::from_ref(&b3));
    assert_eq!(code(&mut s, &report(&b1, 1, &b3, 1)), 34);
    // tx1 spending tx0's OP_RETURN output does not count as chained.
    let (tx0, mut tx1) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag::DEFAULT, 10);
    tx1.input[0].previous_output.vout = 1;
    let b4 = mine_block(&b3.header, vec![tx0, tx1], 4);
    insert(&mut s, std::slice::from_ref(&b4));
    assert_eq!(code(&mut s, &report(&b4, 1, &b4, 2)), 34);

    // Part 1 of another checkpoint chained onto this part 0: the checksum does not pair.
    let mut other = raw;
    other.epoch = 2;
    let (tx0, _) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag::DEFAULT, 11);
    let (_, mut tx1) = checkpoint_txs(&other, &SUBMITTER, CheckpointTag::DEFAULT, 11);
    tx1.input[0].previous_output.txid = tx0.compute_txid();
    let b5 = mine_block(&b4.header, vec![tx0, tx1], 5);
    insert(&mut s, std::slice::from_ref(&b5));
    let e = rejects(&mut s, |s| submit(s, &report(&b5, 1, &b5, 2)));
    assert!(
        matches!(
            e,
            CheckpointingError::Encoding {
                index: 1,
                source: EncodingError::Checksum { .. }
            }
        ),
        "{e:?}"
    );
    // Another chain's tag.
    let (tx0, tx1) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag(*b"xyz0"), 12);
    let b6 = mine_block(&b5.header, vec![tx0, tx1], 6);
    insert(&mut s, std::slice::from_ref(&b6));
    let e = rejects(&mut s, |s| submit(s, &report(&b6, 1, &b6, 2)));
    assert!(
        matches!(
            e,
            CheckpointingError::Encoding {
                index: 0,
                source: EncodingError::Tag { .. }
            }
        ),
        "{e:?}"
    );

    // Well-formed data that is not the sealed checkpoint: another bitmap, another signature.
    let mut other_bitmap = raw;
    assert_eq!(raw.bitmap.count(), 4);
    other_bitmap.bitmap = ValidatorBitmap::empty();
    other_bitmap.bitmap.set(0);
    let mut other_sig = raw;
    other_sig.signature = vals[0].key.sign_checkpoint(1, &raw.block_hash.0);
    let mut other_hash = raw;
    other_hash.block_hash = epoch_hash(3);
    let mut prev = b6.header;
    for (i, (forged, field)) in [
        (other_bitmap, "bitmap"),
        (other_sig, "aggregate signature"),
        (other_hash, "block hash"),
    ]
    .into_iter()
    .enumerate()
    {
        let (tx0, tx1) = checkpoint_txs(&forged, &SUBMITTER, CheckpointTag::DEFAULT, 20 + i as u8);
        let b = mine_block(&prev, vec![tx0, tx1], 10 + i as u32);
        insert(&mut s, std::slice::from_ref(&b));
        prev = b.header;
        match rejects(&mut s, |s| submit(s, &report(&b, 1, &b, 2))) {
            CheckpointingError::CheckpointMismatch { field: f, .. } => assert_eq!(f, field),
            other => panic!("expected CheckpointMismatch, got {other:?}"),
        }
    }
    // An epoch without a checkpoint, and one that is not sealed yet.
    let mut no_epoch = raw;
    no_epoch.epoch = 5;
    let mut unsealed = raw;
    unsealed.epoch = 2;
    validators(&mut s, 2, &[1], &[]);
    begin_checkpoint(&mut s, 2, &raw.block_hash, 20).unwrap();
    for (i, (r, expected)) in [(no_epoch, 26), (unsealed, 35)].into_iter().enumerate() {
        let (tx0, tx1) = checkpoint_txs(&r, &SUBMITTER, CheckpointTag::DEFAULT, 40 + i as u8);
        let b = mine_block(&prev, vec![tx0, tx1], 40 + i as u32);
        insert(&mut s, std::slice::from_ref(&b));
        prev = b.header;
        assert_eq!(code(&mut s, &report(&b, 1, &b, 2)), expected);
    }
    // After all that, the good report still goes through.
    submit(&mut s, &good).unwrap();
}

#[test]
fn the_first_submission_wins_unless_a_deeper_one_comes() {
    let (mut s, raw, _) = sealed_epoch();
    // Two submissions of the same checkpoint by different submitters: B in blocks 1 and 2,
    // A in blocks 3 and 4.
    let other_submitter = Address([0x7d; 20]);
    let (b_tx0, b_tx1) = checkpoint_txs(&raw, &other_submitter, CheckpointTag::DEFAULT, 1);
    let (a_tx0, a_tx1) = checkpoint_txs(&raw, &SUBMITTER, CheckpointTag::DEFAULT, 2);
    let b1 = mine_block(&genesis_header(), vec![b_tx0], 1);
    let b2 = mine_block(&b1.header, vec![b_tx1], 2);
    let b3 = mine_block(&b2.header, vec![a_tx0], 3);
    let b4 = mine_block(&b3.header, vec![a_tx1], 4);
    insert(&mut s, &[b1.clone(), b2.clone(), b3.clone(), b4.clone()]);
    let a = report(&b3, 1, &b4, 1);
    let b = report(&b1, 1, &b2, 1);
    submit(&mut s, &a).unwrap();
    s.take_events();
    // The same again.
    assert!(matches!(
        rejects(&mut s, |s| submit(s, &a)),
        CheckpointingError::DuplicateSubmission { epoch: 1 }
    ));
    // Deeper: replaces, the submitter changes, the status stays SUBMITTED.
    let out = submit(&mut s, &b).unwrap();
    assert!(out.replaced);
    assert!(out.changes.is_empty());
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.submission.unwrap().submitter, other_submitter);
    assert_eq!(rec.submission.unwrap().later_height(), 2);
    assert_eq!(s.take_events()[0].get("replaced"), Some("true"));
    // The shallower one again: not better.
    let e = rejects(&mut s, |s| submit(s, &a));
    assert!(
        matches!(
            e,
            CheckpointingError::SubmissionNotBetter {
                recorded_height: 2,
                found_height: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("must be deeper"), "{e}");
}

// ---- k/w tracking ---------------------------------------------------------------------------

fn grow(
    s: &mut MemState,
    tip: &mut TestBlock,
    n: usize,
    tag: u32,
) -> ballast_btclightclient::TipChange {
    let blocks = mine_empty(&tip.header, n, tag);
    let change = insert(s, &blocks);
    *tip = blocks.last().unwrap().clone();
    change
}

#[test]
fn status_follows_the_depth_of_the_later_block_through_k_and_w() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    s.take_events();
    set_hub_height(&mut s, 13).unwrap();
    let mut tip = b2.clone();
    // Depth of block 2 goes 0 → 5: still SUBMITTED, and nothing is emitted.
    let c = grow(&mut s, &mut tip, 5, 100);
    assert_eq!(on_tip_change(&mut s, &c).unwrap(), Default::default());
    assert!(s.take_events().is_empty());
    // Depth 6 = k: CONFIRMED.
    let c = grow(&mut s, &mut tip, 1, 101);
    let out = on_tip_change(&mut s, &c).unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        status_events(&mut s),
        vec![(
            1,
            st(CheckpointStatus::Submitted),
            st(CheckpointStatus::Confirmed)
        )]
    );
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Confirmed
    );
    // Depth 19: still CONFIRMED; depth 20 = w: FINALIZED.
    let c = grow(&mut s, &mut tip, 13, 102);
    on_tip_change(&mut s, &c).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Confirmed
    );
    assert_eq!(s.latest_finalized_epoch().unwrap(), None);
    let c = grow(&mut s, &mut tip, 1, 103);
    on_tip_change(&mut s, &c).unwrap();
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Finalized);
    assert_eq!(s.latest_finalized_epoch().unwrap(), Some(1));
    assert_eq!(
        rec.lifecycle
            .iter()
            .map(|l| (l.status, l.btc_height))
            .collect::<Vec<_>>(),
        vec![
            (CheckpointStatus::Accumulating, 0),
            (CheckpointStatus::Sealed, 0),
            (CheckpointStatus::Submitted, 2),
            (CheckpointStatus::Confirmed, 8),
            (CheckpointStatus::Finalized, 22),
        ]
    );
    assert_eq!(rec.lifecycle.last().unwrap().hub_height, 13);
    // Final checkpoints leave the index the hook walks, and refuse new submissions.
    assert!(s
        .prefix_raw(state_key::status_index_prefix(CheckpointStatus::Confirmed).as_bytes())
        .next()
        .is_none());
    let c = grow(&mut s, &mut tip, 3, 104);
    assert_eq!(on_tip_change(&mut s, &c).unwrap(), Default::default());
    let e = rejects(&mut s, |s| submit(s, &report(&b1, 1, &b2, 2)));
    assert!(
        matches!(e, CheckpointingError::AlreadyFinalized { epoch: 1 }),
        "{e:?}"
    );
}

#[test]
fn a_submission_already_w_deep_goes_through_every_status_at_once() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    let mut tip = b2.clone();
    let c = grow(&mut s, &mut tip, 25, 7);
    on_tip_change(&mut s, &c).unwrap();
    s.take_events();
    let out = submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    let steps: Vec<(CheckpointStatus, CheckpointStatus)> =
        out.changes.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        steps,
        vec![
            (CheckpointStatus::Sealed, CheckpointStatus::Submitted),
            (CheckpointStatus::Submitted, CheckpointStatus::Confirmed),
            (CheckpointStatus::Confirmed, CheckpointStatus::Finalized),
        ]
    );
    assert_eq!(status_events(&mut s).len(), 3);
    assert_eq!(s.latest_finalized_epoch().unwrap(), Some(1));
}

#[test]
fn a_reorg_that_drops_a_transaction_prunes_the_submission_and_moves_back_to_sealed() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    let mut tip = b2.clone();
    let c = grow(&mut s, &mut tip, 6, 100);
    on_tip_change(&mut s, &c).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Confirmed
    );
    s.take_events();

    // A longer branch from block 1 (so block 2 and part 1's tx leave the best chain).
    let fork = mine_empty(&b1.header, 8, 200);
    let c = insert(&mut s, &fork);
    assert!(c.is_reorg());
    let out = on_tip_change(&mut s, &c).unwrap();
    assert_eq!(out.pruned, vec![1]);
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Sealed);
    assert_eq!(rec.submission, None);
    assert_eq!(
        rec.lifecycle.last().unwrap().status,
        CheckpointStatus::Sealed
    );
    let ev = s.take_events();
    assert_eq!(ev[0].kind, events::SUBMISSION_PRUNED);
    assert_eq!(
        parse_checkpoint_status(&ev[1]).map(|e| (e.old_status, e.new_status)),
        Some((
            st(CheckpointStatus::Confirmed),
            st(CheckpointStatus::Sealed)
        ))
    );
    // The old proofs now point at a fork block: refused. The transactions mined again on the
    // new branch are accepted.
    assert!(rejects(&mut s, |s| submit(s, &report(&b1, 1, &b2, 2)))
        .to_string()
        .contains("spv proof 1"));
    let again = mine_block(
        &fork.last().unwrap().header,
        vec![b2.txs[1].clone(), b2.txs[2].clone()],
        300,
    );
    insert(&mut s, std::slice::from_ref(&again));
    submit(&mut s, &report(&b1, 1, &again, 2)).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Submitted
    );

    // A reorg that keeps both blocks only re-reads depth.
    let side = mine_empty(&again.header, 1, 400);
    insert(&mut s, &side);
    let side2 = mine_empty(&again.header, 2, 401);
    let c = insert(&mut s, &side2);
    assert!(c.is_reorg());
    assert_eq!(on_tip_change(&mut s, &c).unwrap().pruned, Vec::<u64>::new());
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Submitted
    );
}

fn headers_msg(blocks: &[TestBlock]) -> prost_types::Any {
    prost_types::Any {
        type_url: "/ballast.btclightclient.v1.MsgInsertHeaders".into(),
        value: ballast_proto::ballast::btclightclient::v1::MsgInsertHeaders {
            signer: REPORTER.to_string(),
            headers: blocks
                .iter()
                .map(|b| bitcoin::consensus::serialize(&b.header))
                .collect(),
        }
        .encode_to_vec(),
    }
}

/// Runs a MsgInsertHeaders through the light-client module with the checkpointing hook, on an
/// overlay kept only on success.
fn relay(s: &mut MemState, blocks: &[TestBlock]) -> Result<(), TxError> {
    let module = BtcLightClientModule::with_hooks(vec![Arc::new(CheckpointingBtcHooks)]);
    let m = module.decode_msg(&headers_msg(blocks)).unwrap()?;
    let b = block(14);
    let signers = m.signers();
    let ctx = TxContext {
        block: &b,
        tx_hash: [0; 32],
        signers: &signers,
    };
    let mut overlay = ballast_framework::Overlay::new(&mut *s);
    m.execute(&mut overlay, &ctx)?;
    overlay.commit().map_err(TxError::from)?;
    Ok(())
}

#[test]
fn a_reorg_under_a_finalized_checkpoint_halts_the_chain() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    // Through the light client's message and hook: 20 blocks on top finalize it.
    let on_top = mine_empty(&b2.header, 20, 100);
    relay(&mut s, &on_top).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Finalized
    );
    // A reorg of 20 blocks (fork at block 2) keeps both transactions: fine.
    let keep = mine_empty(&b2.header, 21, 200);
    relay(&mut s, &keep).unwrap();
    assert_eq!(s.btc_tip().unwrap().hash, keep.last().unwrap().hash());
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Finalized
    );
    // A heavier branch from block 1 removes block 2, 21 + 1 blocks deep: fatal.
    let before = dump(&s);
    let deep = mine_empty(&b1.header, 23, 300);
    let e = relay(&mut s, &deep).unwrap_err();
    assert!(e.fatal, "{e:?}");
    assert_eq!((e.codespace, e.code), (CODESPACE, 40));
    assert!(
        e.log.contains("finalized checkpoint(s) of epoch(s) [1]"),
        "{}",
        e.log
    );
    assert!(e.log.contains("the chain halts"), "{}", e.log);
    assert_eq!(
        dump(&s),
        before,
        "the failed message must not leave the headers in"
    );
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Finalized
    );
}

// ---- the message through the module --------------------------------------------------------

#[test]
fn the_spv_message_runs_through_the_module_and_failures_keep_nothing() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    s.take_events();
    let url = MsgInsertBtcSpvProof::TYPE_URL;
    assert_eq!(url, "/ballast.checkpointing.v1.MsgInsertBtcSpvProof");
    let mut forged = report(&b1, 1, &b2, 2);
    forged.proofs[0].merkle_nodes[0] ^= 1;
    let before = dump(&s);
    let e = run_msg(&mut s, &any_of(url, &forged), 15).unwrap_err();
    assert_eq!((e.codespace, e.code, e.fatal), (CODESPACE, 33, false));
    assert!(e.log.contains("does not lead to root"), "{}", e.log);
    assert_eq!(dump(&s), before);
    run_msg(&mut s, &any_of(url, &report(&b1, 1, &b2, 2)), 15).unwrap();
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.submission.unwrap().recorded_at_height, 15);
    let ev = s.take_events();
    assert_eq!(ev.last().unwrap().get("action"), Some(url));
    assert_eq!(
        ev.last().unwrap().get("sender"),
        Some(REPORTER.to_string().as_str())
    );
    // The round trip of the domain message keeps every byte.
    let m = MsgInsertBtcSpvProof::from_proto(&report(&b1, 1, &b2, 2)).unwrap();
    assert_eq!(m.to_proto(), report(&b1, 1, &b2, 2));
    assert_eq!(MsgHandler::signers(&m), vec![REPORTER]);
    // Messages of other modules are not ours.
    assert!(CheckpointingModule
        .decode_msg(&prost_types::Any {
            type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
            value: vec![],
        })
        .is_none());
}

#[test]
fn the_module_applies_genesis_records_heights_and_opens_epochs() {
    let m = CheckpointingModule;
    assert_eq!(m.name(), "checkpointing");
    let json = m.default_genesis();
    assert_eq!(json["params"]["max_validators"], 100);
    assert_eq!(json["params"]["checkpoint_tag"], "bal0");
    assert_eq!(
        GenesisState::from_json(&json).unwrap(),
        GenesisState::default()
    );
    let mut s = MemState::new();
    ballast_btclightclient::GenesisState::default()
        .apply(&mut s)
        .unwrap();
    m.init_genesis(&mut s, &block(1), Some(&json)).unwrap();
    assert_eq!(s.checkpointing_params().unwrap(), Params::default());
    let bad = serde_json::json!({"params": {"max_validators": 105}});
    let e = m
        .init_genesis(&mut MemState::new(), &block(1), Some(&bad))
        .unwrap_err();
    assert!(e.to_string().contains("max_validators"), "{e}");
    assert!(m
        .init_genesis(
            &mut MemState::new(),
            &block(1),
            Some(&serde_json::json!({"x": 1}))
        )
        .is_err());
    m.init_genesis(&mut MemState::new(), &block(1), None)
        .unwrap();

    // begin-block records the height; end-epoch opens the epoch with the block's hash.
    m.begin_block(&mut s, &block(10)).unwrap();
    assert_eq!(s.hub_height().unwrap(), 10);
    // Without a validator snapshot nobody can sign, so no checkpoint is opened.
    m.end_epoch(&mut s, &block(10), 1).unwrap();
    assert_eq!(s.checkpoint(1).unwrap(), None);
    validators(&mut s, 1, &[10], &[]);
    m.end_epoch(&mut s, &block(10), 1).unwrap();
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Accumulating);
    assert_eq!(rec.block_hash, block(10).hash);
    assert_eq!(rec.lifecycle[0].hub_height, 10);
    let e = m.end_epoch(&mut s, &block(10), 1).unwrap_err();
    assert_eq!((e.codespace, e.code), (CODESPACE, 27));
}

// ---- queries ----------------------------------------------------------------------------------

fn q<Req: Message, Resp: Message + Default>(
    s: &MemState,
    method: &str,
    req: &Req,
) -> Result<Resp, TxError> {
    let path = format!("/ballast.checkpointing.v1.Query/{method}");
    let bytes = CheckpointingModule
        .query(s, &path, &req.encode_to_vec())
        .expect("a checkpointing path")?;
    Ok(Resp::decode(bytes.as_slice()).unwrap())
}

#[test]
fn queries_answer_every_path() {
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    // Epochs 2..=4 sealed by one validator each; epoch 5 accumulating.
    for e in 2..=4 {
        let v = validators(&mut s, e, &[1], &[]);
        sealed(&mut s, e, &v);
    }
    validators(&mut s, 5, &[1], &[]);
    begin_checkpoint(&mut s, 5, &epoch_hash(5), 50).unwrap();

    let p: pb::QueryParamsResponse = q(&s, "Params", &pb::QueryParamsRequest {}).unwrap();
    assert_eq!(p.params.unwrap(), Params::default().to_proto());

    let c: pb::QueryCheckpointResponse =
        q(&s, "Checkpoint", &pb::QueryCheckpointRequest { epoch: 1 }).unwrap();
    let c = CheckpointRecord::from_proto(&c.checkpoint.unwrap()).unwrap();
    assert_eq!(c, s.checkpoint(1).unwrap().unwrap());
    assert_eq!(c.status, CheckpointStatus::Submitted);
    assert_eq!(c.lifecycle.len(), 3);
    assert!(c.submission.is_some());
    let e = q::<_, pb::QueryCheckpointResponse>(
        &s,
        "Checkpoint",
        &pb::QueryCheckpointRequest { epoch: 9 },
    )
    .unwrap_err();
    assert_eq!((e.codespace, e.code), (CODESPACE, 26));

    let page = |s: &MemState,
                status: CheckpointStatus,
                start: u64,
                limit: u32|
     -> (Vec<u64>, Option<u64>) {
        let r: pb::QueryCheckpointsResponse = q(
            s,
            "Checkpoints",
            &pb::QueryCheckpointsRequest {
                status: status.to_proto() as i32,
                start_epoch: start,
                limit,
            },
        )
        .unwrap();
        (
            r.checkpoints.iter().map(|c| c.epoch).collect(),
            r.next_epoch,
        )
    };
    assert_eq!(
        page(&s, CheckpointStatus::Sealed, 0, 0),
        (vec![2, 3, 4], None)
    );
    assert_eq!(
        page(&s, CheckpointStatus::Sealed, 0, 2),
        (vec![2, 3], Some(4))
    );
    assert_eq!(page(&s, CheckpointStatus::Sealed, 4, 2), (vec![4], None));
    assert_eq!(page(&s, CheckpointStatus::Sealed, 3, 1), (vec![3], Some(4)));
    assert_eq!(
        page(&s, CheckpointStatus::Submitted, 0, 10),
        (vec![1], None)
    );
    assert_eq!(
        page(&s, CheckpointStatus::Accumulating, 0, 10),
        (vec![5], None)
    );
    assert_eq!(page(&s, CheckpointStatus::Finalized, 0, 10), (vec![], None));
    for (status, limit) in [(0, 10), (9, 10), (2, 1001)] {
        let e = q::<_, pb::QueryCheckpointsResponse>(
            &s,
            "Checkpoints",
            &pb::QueryCheckpointsRequest {
                status,
                start_epoch: 0,
                limit,
            },
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), (CODESPACE, 41));
    }

    let eoh = |h: u64| {
        q::<_, pb::QueryEpochOfHeightResponse>(
            &s,
            "EpochOfHeight",
            &pb::QueryEpochOfHeightRequest { height: h },
        )
    };
    let r = eoh(25).unwrap();
    assert_eq!((r.epoch, r.first_height, r.last_height), (3, 21, 30));
    let r = eoh(1).unwrap();
    assert_eq!((r.epoch, r.first_height, r.last_height), (1, 1, 10));
    assert_eq!(eoh(0).unwrap_err().code, 41);

    let f: pb::QueryLatestFinalizedEpochResponse = q(
        &s,
        "LatestFinalizedEpoch",
        &pb::QueryLatestFinalizedEpochRequest {},
    )
    .unwrap();
    assert_eq!(f.epoch, None);
    let mut tip = b2.clone();
    let c = grow(&mut s, &mut tip, 20, 9);
    on_tip_change(&mut s, &c).unwrap();
    let f: pb::QueryLatestFinalizedEpochResponse = q(
        &s,
        "LatestFinalizedEpoch",
        &pb::QueryLatestFinalizedEpochRequest {},
    )
    .unwrap();
    assert_eq!(f.epoch, Some(1));
    assert_eq!(
        page(&s, CheckpointStatus::Finalized, 0, 10),
        (vec![1], None)
    );

    let k: pb::QueryBlsKeyResponse = q(
        &s,
        "BlsKey",
        &pb::QueryBlsKeyRequest {
            validator_address: hex::encode(addr(1).0).to_uppercase(),
        },
    )
    .unwrap();
    let k = k.bls_key.unwrap();
    assert_eq!(k.bls_pubkey, bls_key(1).public_key().to_bytes().to_vec());
    assert_eq!(k.validator_address, addr(1).0.to_vec());
    for (input, code) in [("zz", 5), (hex::encode([9u8; 20]).as_str(), 41)] {
        let e = q::<_, pb::QueryBlsKeyResponse>(
            &s,
            "BlsKey",
            &pb::QueryBlsKeyRequest {
                validator_address: input.into(),
            },
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), (CODESPACE, code), "{input}");
    }

    let v: pb::QueryValidatorSnapshotResponse = q(
        &s,
        "ValidatorSnapshot",
        &pb::QueryValidatorSnapshotRequest { epoch: 1 },
    )
    .unwrap();
    let v = v.snapshot.unwrap();
    assert_eq!(v.total_power, 100);
    assert_eq!(
        v.validators.iter().map(|e| e.power).collect::<Vec<_>>(),
        vec![40, 30, 20, 10]
    );
    let e = q::<_, pb::QueryValidatorSnapshotResponse>(
        &s,
        "ValidatorSnapshot",
        &pb::QueryValidatorSnapshotRequest { epoch: 99 },
    )
    .unwrap_err();
    assert_eq!(e.code, 14);

    // Unknown methods and undecodable requests; other modules' paths are not answered.
    let e = CheckpointingModule
        .query(&s, "/ballast.checkpointing.v1.Query/Nope", &[])
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.codespace, e.code),
        (sdk::CODESPACE, sdk::UNKNOWN_REQUEST)
    );
    let e = CheckpointingModule
        .query(&s, "/ballast.checkpointing.v1.Query/Checkpoint", &[0xff])
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.codespace, e.code),
        (sdk::CODESPACE, sdk::INVALID_REQUEST)
    );
    assert!(CheckpointingModule
        .query(&s, "/ballast.btclightclient.v1.Query/Tip", &[])
        .is_none());
}

#[test]
fn epoch_of_height_needs_the_apps_epoch_config() {
    let mut s = MemState::new();
    GenesisState::default().apply(&mut s).unwrap();
    let e = q::<_, pb::QueryEpochOfHeightResponse>(
        &s,
        "EpochOfHeight",
        &pb::QueryEpochOfHeightRequest { height: 5 },
    )
    .unwrap_err();
    assert_eq!(e.code, 4);
    assert!(e.log.contains("set_epoch_config"), "{}", e.log);
    set_epoch_config(&mut s, &EpochConfig::new(100, 360).unwrap()).unwrap();
    assert_eq!(
        s.epoch_config().unwrap(),
        EpochConfig::new(100, 360).unwrap()
    );
    let r: pb::QueryEpochOfHeightResponse = q(
        &s,
        "EpochOfHeight",
        &pb::QueryEpochOfHeightRequest { height: 460 },
    )
    .unwrap();
    assert_eq!((r.epoch, r.first_height, r.last_height), (2, 460, 819));
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn error_codes_are_unique_and_messages_lower_case() {
    use crate::bls::BlsError;
    use ballast_framework::StateError;
    use bitcoin::hashes::Hash;
    let bls = || BlsError::Verify("x");
    let h = || "00".to_string();
    let all = vec![
        CheckpointingError::InvalidParams(h()),
        CheckpointingError::InvalidGenesis(h()),
        CheckpointingError::InvalidEpochConfig(h()),
        CheckpointingError::InvalidValidatorAddress { input: h() },
        CheckpointingError::InvalidBlsKey(bls()),
        CheckpointingError::InvalidProofOfPossession {
            bls_pubkey: h(),
            source: bls(),
        },
        CheckpointingError::BlsKeyAlreadyRegistered {
            validator: h(),
            existing: h(),
        },
        CheckpointingError::BlsKeyInUse {
            bls_pubkey: h(),
            owner: h(),
            validator: h(),
        },
        CheckpointingError::InvalidConsensusKey(h()),
        CheckpointingError::InvalidConsensusSignature {
            validator: h(),
            chain_id: h(),
        },
        CheckpointingError::InvalidSnapshot {
            epoch: 1,
            reason: h(),
        },
        CheckpointingError::SnapshotExists { epoch: 1 },
        CheckpointingError::SnapshotNotFound { epoch: 1 },
        CheckpointingError::MissingVoteExtension {
            epoch: 1,
            validator: h(),
        },
        CheckpointingError::MalformedVoteExtension(h()),
        CheckpointingError::VoteExtensionEpochMismatch {
            expected: 1,
            found: 2,
        },
        CheckpointingError::VoteExtensionHashMismatch {
            expected: h(),
            found: h(),
        },
        CheckpointingError::UnknownValidator {
            epoch: 1,
            validator: h(),
        },
        CheckpointingError::NoBlsKey {
            epoch: 1,
            validator: h(),
        },
        CheckpointingError::InvalidSignature {
            epoch: 1,
            validator: h(),
            source: bls(),
        },
        CheckpointingError::InsufficientPower {
            epoch: 1,
            signed: 1,
            total: 3,
            needed: 3,
        },
        CheckpointingError::MalformedCheckpoint(h()),
        CheckpointingError::BitmapOutOfRange {
            epoch: 1,
            position: 5,
            validators: 4,
        },
        CheckpointingError::InvalidAggregateSignature {
            epoch: 1,
            signers: 3,
        },
        CheckpointingError::CheckpointNotFound {
            epoch: 1,
            hint: "x",
        },
        CheckpointingError::CheckpointExists { epoch: 1 },
        CheckpointingError::BlockHashMismatch {
            epoch: 1,
            expected: h(),
            found: h(),
        },
        CheckpointingError::AlreadySealed {
            epoch: 1,
            status: CheckpointStatus::Sealed,
        },
        CheckpointingError::ProofCount(1),
        CheckpointingError::MalformedProof {
            index: 0,
            reason: h(),
        },
        CheckpointingError::Encoding {
            index: 0,
            source: EncodingError::NoOpReturn,
        },
        CheckpointingError::BtcProof {
            index: 0,
            source: ballast_btclightclient::BtcLightClientError::HeaderNotFound(
                bitcoin::BlockHash::from_byte_array([0; 32]),
            ),
        },
        CheckpointingError::NotChained {
            part0_txid: h(),
            part1_txid: h(),
        },
        CheckpointingError::NotSealed {
            epoch: 1,
            status: CheckpointStatus::Accumulating,
        },
        CheckpointingError::CheckpointMismatch {
            epoch: 1,
            field: "bitmap",
            expected: h(),
            found: h(),
        },
        CheckpointingError::AlreadyFinalized { epoch: 1 },
        CheckpointingError::DuplicateSubmission { epoch: 1 },
        CheckpointingError::SubmissionNotBetter {
            epoch: 1,
            recorded_height: 1,
            found_height: 2,
        },
        CheckpointingError::DeepReorg {
            epochs: vec![1],
            fork_height: 1,
            depth: 22,
            w: 20,
        },
        CheckpointingError::InvalidQuery(h()),
    ];
    let codes: Vec<u32> = all.iter().map(|e| e.code()).collect();
    assert_eq!(codes, (2..=41).collect::<Vec<u32>>());
    for e in &all {
        assert_eq!(e.codespace(), CODESPACE);
        let msg = e.to_string();
        assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
        assert_eq!(
            e.is_fatal(),
            matches!(e, CheckpointingError::DeepReorg { .. }),
            "{msg}"
        );
    }
    // Sources are chained into the log.
    let t: TxError = CheckpointingError::InvalidSignature {
        epoch: 1,
        validator: h(),
        source: bls(),
    }
    .into();
    assert!(t.log.ends_with(": x does not verify"), "{}", t.log);
    // Standard kinds use the sdk codes; state failures are fatal, running out of gas is not.
    let state: TxError = CheckpointingError::State(StateError::Backend("x".into())).into();
    assert_eq!(
        (state.codespace, state.code, state.fatal),
        (sdk::CODESPACE, sdk::INTERNAL, true)
    );
    let gas: TxError = CheckpointingError::State(StateError::OutOfGas {
        limit: 1,
        needed: 2,
    })
    .into();
    assert_eq!(
        (gas.codespace, gas.code, gas.fatal),
        (sdk::CODESPACE, sdk::OUT_OF_GAS, false)
    );
    let light_client_state = CheckpointingError::btc_proof(
        1,
        ballast_btclightclient::BtcLightClientError::State(StateError::Backend("y".into())),
    );
    assert!(light_client_state.is_fatal());
    assert_eq!(CheckpointingError::Decode(h()).code(), sdk::TX_DECODE);
}

#[test]
fn a_shorter_best_chain_moves_a_confirmed_checkpoint_back_to_submitted() {
    // Regtest's fixed difficulty cannot mine a shorter branch with more work, so the tip
    // change a heavier, shorter branch would give is built by hand: the blocks under the
    // submission stay on the best chain, and the tip is 3 blocks above the later one.
    let (mut s, raw, _) = sealed_epoch();
    let (b1, b2) = submitted_chain(&mut s, &raw);
    submit(&mut s, &report(&b1, 1, &b2, 2)).unwrap();
    let mut tip = b2.clone();
    let c = grow(&mut s, &mut tip, 6, 100);
    on_tip_change(&mut s, &c).unwrap();
    assert_eq!(
        s.checkpoint(1).unwrap().unwrap().status,
        CheckpointStatus::Confirmed
    );
    s.take_events();
    let mut shorter = c.clone();
    shorter.new_tip = s.btc_header_at_height(5).unwrap().unwrap();
    let out = on_tip_change(&mut s, &shorter).unwrap();
    assert_eq!(
        out.changes,
        vec![tracking::StatusChange {
            epoch: 1,
            from: CheckpointStatus::Confirmed,
            to: CheckpointStatus::Submitted
        }]
    );
    assert!(out.pruned.is_empty());
    let rec = s.checkpoint(1).unwrap().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Submitted);
    assert!(rec.submission.is_some());
    assert_eq!(
        status_events(&mut s),
        vec![(
            1,
            st(CheckpointStatus::Confirmed),
            st(CheckpointStatus::Submitted)
        )]
    );
    // The index follows: the hook finds it as SUBMITTED next time.
    assert!(s
        .prefix_raw(state_key::status_index(CheckpointStatus::Submitted, 1).as_bytes())
        .next()
        .is_some());
}

#[test]
fn with_nothing_submitted_a_tip_change_reads_no_params_or_height() {
    // A light client alone (no checkpointing genesis, no begin-block): the hook is a no-op.
    let mut s = MemState::new();
    ballast_btclightclient::GenesisState::default()
        .apply(&mut s)
        .unwrap();
    let blocks = mine_empty(&genesis_header(), 3, 1);
    relay(&mut s, &blocks).unwrap();
    assert_eq!(s.btc_tip().unwrap().height, 3);
    let fork = mine_empty(&genesis_header(), 4, 2);
    relay(&mut s, &fork).unwrap();
    assert_eq!(s.btc_tip().unwrap().hash, fork[3].hash());
}

// ---- height-aware consensus entry points ------------------------------------------------------

#[test]
fn consensus_entry_points_act_only_at_epoch_boundaries() {
    use crate::consensus::*;
    let mut s = base_state();
    let vals = validators(&mut s, 1, &[40, 30, 20, 10], &[]);
    let h = epoch_hash(1);
    let key = &vals[0].key;
    // Height 10 is epoch 1's last block (epochs of 10 from height 1).
    assert_eq!(
        vote_extension_at(&s, Some(key), 9, &h).unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(
        vote_extension_at(&s, None, 10, &h).unwrap(),
        Vec::<u8>::new()
    );
    let ext = vote_extension_at(&s, Some(key), 10, &h).unwrap();
    assert_eq!(ext, extend_vote(key, 1, &h));
    verify_vote_extension_at(&s, &vals[0].address, 10, &h, &ext).unwrap();
    assert_eq!(
        verify_vote_extension_at(&s, &vals[0].address, 10, &h, &[])
            .unwrap_err()
            .code(),
        15
    );
    verify_vote_extension_at(&s, &vals[0].address, 9, &h, &[]).unwrap();
    assert_eq!(
        verify_vote_extension_at(&s, &vals[0].address, 9, &h, &ext)
            .unwrap_err()
            .code(),
        16
    );

    // FinalizeBlock of height 10 ends epoch 1; height 11 carries its checkpoint.
    CheckpointingModule
        .end_epoch(
            &mut s,
            &BlockContext {
                height: 10,
                hash: h,
                ..block(10)
            },
            1,
        )
        .unwrap();
    let all: Vec<(ConsensusAddress, Vec<u8>)> = vals
        .iter()
        .map(|v| {
            (
                v.address,
                vote_extension_at(&s, Some(&v.key), 10, &h).unwrap(),
            )
        })
        .collect();
    assert_eq!(proposal_payload_at(&s, 12, &all).unwrap(), None);
    assert_eq!(
        proposal_payload_at(&s, 11, &all[2..]).unwrap(),
        None,
        "30 of 100 is not enough"
    );
    let payload = proposal_payload_at(&s, 11, &all).unwrap().unwrap();
    let raw = RawCheckpoint::from_bytes(&payload).unwrap();
    assert_eq!((raw.epoch, raw.bitmap.count()), (1, 4));
    check_proposal_payload_at(&s, 11, &[], Some(&payload)).unwrap();
    // Omitting it is fine while the last commit holds at most 2/3 of the power (60 of 100)...
    let addrs: Vec<ConsensusAddress> = vals.iter().map(|v| v.address).collect();
    check_proposal_payload_at(&s, 11, &[], None).unwrap();
    check_proposal_payload_at(&s, 11, &addrs[2..], None).unwrap();
    check_proposal_payload_at(&s, 11, &addrs[1..], None).unwrap();
    // ... and refused once the committed validators hold more (70 of 100): the proposer had
    // their verified extensions.
    let e = check_proposal_payload_at(&s, 11, &addrs[..2], None).unwrap_err();
    assert_eq!(e.code(), 42, "{e}");
    assert_eq!(
        check_proposal_payload_at(&s, 11, &addrs, None)
            .unwrap_err()
            .code(),
        42
    );
    // Only the first block of the next epoch carries the checkpoint.
    check_proposal_payload_at(&s, 12, &addrs, None).unwrap();
    assert_eq!(
        check_proposal_payload_at(&s, 12, &[], Some(&payload))
            .unwrap_err()
            .code(),
        23
    );
    assert_eq!(
        check_proposal_payload_at(&s, 11, &[], Some(&payload[1..]))
            .unwrap_err()
            .code(),
        23
    );
    let mut other_epoch = raw;
    other_epoch.epoch = 2;
    let e = check_proposal_payload_at(&s, 11, &[], Some(&other_epoch.to_bytes())).unwrap_err();
    assert!(e.to_string().contains("epoch 1, found epoch 2"), "{e}");
    let mut forged = raw;
    forged.bitmap = ValidatorBitmap::empty();
    for p in 0..3 {
        forged.bitmap.set(p);
    }
    assert_eq!(
        check_proposal_payload_at(&s, 11, &[], Some(&forged.to_bytes()))
            .unwrap_err()
            .code(),
        25
    );
    rejects(&mut s, |s| apply_proposal_payload_at(s, 12, &payload));
    rejects(&mut s, |s| {
        apply_proposal_payload_at(s, 11, &forged.to_bytes())
    });
    let rec = apply_proposal_payload_at(&mut s, 11, &payload).unwrap();
    assert_eq!(rec.status, CheckpointStatus::Sealed);
    assert_eq!(rec.lifecycle.last().unwrap().hub_height, 11);
    // Once sealed, a second proposal with it is refused, and none is built.
    assert_eq!(
        check_proposal_payload_at(&s, 11, &[], Some(&payload))
            .unwrap_err()
            .code(),
        29
    );
    assert_eq!(proposal_payload_at(&s, 11, &all).unwrap(), None);
    // Nothing is due once sealed, so omitting it is fine.
    check_proposal_payload_at(&s, 11, &addrs, None).unwrap();
}
