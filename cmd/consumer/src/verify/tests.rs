//! The checks against real ICS-23 proofs from a Jellyfish Merkle tree built here (the hub's
//! state tree: JMT with SHA-256, `jmt::ics23_spec()`), with honest and tampered updates.

use super::*;
use jmt::storage::{HasPreimage, LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter};
use jmt::{KeyHash, OwnedValue, Version};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// An in-memory JMT store.
#[derive(Default)]
struct MemTree {
    nodes: Mutex<BTreeMap<NodeKey, Node>>,
    values: Mutex<BTreeMap<(KeyHash, Version), Option<OwnedValue>>>,
    preimages: Mutex<BTreeMap<KeyHash, Vec<u8>>>,
}

impl TreeReader for MemTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.lock().unwrap().get(node_key).cloned())
    }
    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let values = self.values.lock().unwrap();
        Ok(values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, v)| v.clone()))
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

impl HasPreimage for MemTree {
    fn preimage(&self, key_hash: KeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.preimages.lock().unwrap().get(&key_hash).cloned())
    }
}

impl TreeWriter for MemTree {
    fn write_node_batch(&self, batch: &NodeBatch) -> anyhow::Result<()> {
        let mut nodes = self.nodes.lock().unwrap();
        for (k, n) in batch.nodes() {
            nodes.insert(k.clone(), n.clone());
        }
        let mut values = self.values.lock().unwrap();
        for ((version, kh), v) in batch.values() {
            values.insert((*kh, *version), v.clone());
        }
        Ok(())
    }
}

/// A hub's state tree: one version per hub height.
pub(crate) struct Hub {
    tree: MemTree,
    pub(crate) roots: BTreeMap<Version, [u8; 32]>,
}

impl Hub {
    pub(crate) fn new() -> Hub {
        Hub {
            tree: MemTree::default(),
            roots: BTreeMap::new(),
        }
    }

    /// Commits `height` with `writes` plus some unrelated keys (so the proof has a path).
    pub(crate) fn commit(&mut self, height: Version, writes: &[(Vec<u8>, Vec<u8>)]) -> [u8; 32] {
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = writes.to_vec();
        for i in 0..20u32 {
            all.push((
                format!("accounts/balance/{height}/{i}").into_bytes(),
                i.to_be_bytes().to_vec(),
            ));
        }
        let set: Vec<(KeyHash, Option<OwnedValue>)> = all
            .iter()
            .map(|(k, v)| {
                let kh = KeyHash::with::<Sha256>(k);
                self.tree.preimages.lock().unwrap().insert(kh, k.clone());
                (kh, Some(v.clone()))
            })
            .collect();
        let jmt = jmt::Sha256Jmt::new(&self.tree);
        let (root, batch) = jmt.put_value_set(set, height).unwrap();
        self.tree.write_node_batch(&batch.node_batch).unwrap();
        self.roots.insert(height, root.0);
        root.0
    }

    /// The gRPC answer to `GetValidatorSet{height, prove: true}`.
    pub(crate) fn answer(
        &self,
        consumer_id: &str,
        height: Version,
    ) -> svc::GetValidatorSetResponse {
        let jmt = jmt::Sha256Jmt::new(&self.tree);
        let (value, proof) = jmt
            .get_with_ics23_proof(proof_key(consumer_id), height)
            .unwrap();
        svc::GetValidatorSetResponse {
            height,
            set: None,
            commitment: value.map(|v| pb::SetCommitment::decode(v.as_slice()).unwrap()),
            proof_key: proof_key(consumer_id),
            proof: proof.encode_to_vec(),
            app_hash: self.roots[&height].to_vec(),
        }
    }

    /// Commits the commitment of `next` at its hub height (as the consumers module does) and
    /// returns the app hash.
    pub(crate) fn commit_update(&mut self, next: &ConsumerSet) -> [u8; 32] {
        let c = expected_commitment(next);
        self.commit(
            next.hub_height,
            &[(proof_key(&next.consumer_id), c.encode_to_vec())],
        )
    }
}

pub(crate) const ID: &str = "demo-1";

pub(crate) fn key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = n;
    k[31] = n.wrapping_mul(7);
    k
}

pub(crate) fn change(n: u8, power: u64) -> pb::ValidatorPower {
    pb::ValidatorPower {
        pubkey: key(n).to_vec(),
        power,
        operator_btc_pk: vec![n; 32],
    }
}

/// The update that turns `from` into a set with `changes` applied, with its true set hash.
pub(crate) fn honest(
    from: &ConsumerSet,
    hub_height: u64,
    epoch: u64,
    changes: Vec<pb::ValidatorPower>,
) -> pb::ValidatorSetUpdate {
    let mut u = pb::ValidatorSetUpdate {
        consumer_id: ID.into(),
        update_id: from.update_id + 1,
        hub_height,
        epoch,
        changes,
        set_hash: Vec::new(),
    };
    let mut vals = from.validators.clone();
    for c in &u.changes {
        let k: [u8; 32] = c.pubkey.as_slice().try_into().unwrap();
        if c.power == 0 {
            vals.remove(&k);
        } else {
            vals.insert(
                k,
                Member {
                    power: c.power,
                    unverified_operator: c.operator_btc_pk.clone(),
                },
            );
        }
    }
    u.set_hash = set_hash(&vals).unwrap().to_vec();
    u
}

/// A hub with one honest first update (three validators) committed at height 20.
fn first_update() -> (Hub, ConsumerSet, pb::ValidatorSetUpdate) {
    let mut hub = Hub::new();
    hub.commit(19, &[]);
    let start = ConsumerSet::empty(ID);
    let u = honest(
        &start,
        20,
        4,
        vec![change(1, 100), change(2, 50), change(3, 50)],
    );
    let next = apply_update(&start, &u).unwrap();
    hub.commit_update(&next);
    (hub, start, u)
}

fn rfc6962_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    fn hash(items: &[Vec<u8>]) -> [u8; 32] {
        match items.len() {
            0 => Sha256::digest([]).into(),
            1 => Sha256::new()
                .chain_update([0u8])
                .chain_update(&items[0])
                .finalize()
                .into(),
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                Sha256::new()
                    .chain_update([1u8])
                    .chain_update(hash(&items[..k]))
                    .chain_update(hash(&items[k..]))
                    .finalize()
                    .into()
            }
        }
    }
    hash(leaves)
}

#[test]
fn the_set_hash_is_cometbfts_merkle_root_of_simple_validators_in_cometbft_order() {
    use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
    use tendermint_proto::v0_38::types::SimpleValidator;
    let mut set = ConsumerSet::empty(ID);
    assert_eq!(set.set_hash, <[u8; 32]>::from(Sha256::digest([])));
    for (n, p) in [(1u8, 10u64), (2, 30), (3, 10), (4, 20), (5, 10)] {
        set.validators.insert(
            key(n),
            Member {
                power: p,
                unverified_operator: vec![n; 32],
            },
        );
    }
    let order = set.cometbft_order();
    // Power descending; equal powers by address ascending.
    assert_eq!(order[0].0, key(2));
    assert_eq!(order[1].0, key(4));
    let tail: Vec<[u8; 20]> = order[2..].iter().map(|(k, _)| address_of(k)).collect();
    assert!(tail.windows(2).all(|w| w[0] < w[1]), "{tail:?}");
    let leaves: Vec<Vec<u8>> = order
        .iter()
        .map(|(k, m)| {
            SimpleValidator {
                pub_key: Some(PublicKey {
                    sum: Some(Sum::Ed25519(k.to_vec())),
                }),
                voting_power: m.power as i64,
            }
            .encode_to_vec()
        })
        .collect();
    assert_eq!(set_hash(&set.validators).unwrap(), rfc6962_root(&leaves));
    assert_eq!(set.total_power(), 80);
}

#[test]
fn powers_beyond_cometbfts_limits_are_refused_not_panicked_on() {
    let mut vals = BTreeMap::new();
    vals.insert(
        key(1),
        Member {
            power: u64::MAX,
            unverified_operator: vec![],
        },
    );
    assert!(set_hash(&vals).unwrap_err().contains("maximum"));
    vals.insert(
        key(1),
        Member {
            power: Set::MAX_TOTAL_VOTING_POWER,
            unverified_operator: vec![],
        },
    );
    set_hash(&vals).unwrap();
    vals.insert(
        key(2),
        Member {
            power: 1,
            unverified_operator: vec![],
        },
    );
    assert!(set_hash(&vals).unwrap_err().contains("total power"));
}

#[test]
fn honest_updates_verify_and_the_set_follows_their_changes() {
    let (mut hub, start, u1) = first_update();
    let app_hash = hub.roots[&20];
    let s1 = verify_update(&start, &u1, &hub.answer(ID, 20), &app_hash).unwrap();
    assert_eq!(s1.update_id, 1);
    assert_eq!(s1.validators.len(), 3);
    assert_eq!(s1.total_power(), 200);
    assert_eq!(s1.hub_height, 20);
    assert_eq!(s1.epoch, 4);

    // Update 2: one power changes, one validator leaves, one joins.
    let u2 = honest(&s1, 31, 5, vec![change(1, 70), change(3, 0), change(9, 5)]);
    let next = apply_update(&s1, &u2).unwrap();
    hub.commit(30, &[]);
    let app_hash = hub.commit_update(&next);
    let s2 = verify_update(&s1, &u2, &hub.answer(ID, 31), &app_hash).unwrap();
    assert_eq!(s2, next);
    let keys: Vec<[u8; 32]> = s2.validators.keys().copied().collect();
    assert_eq!(keys, vec![key(1), key(2), key(9)]);
    assert_eq!(s2.validators[&key(1)].power, 70);
    assert_eq!(s2.total_power(), 125);

    // Update 1 again, or update 3 before 2, is out of order.
    let err = apply_update(&s2, &u1).unwrap_err();
    assert_eq!(err.check(), "out_of_order", "{err}");
    let mut u3 = honest(&s2, 40, 6, vec![change(2, 1)]);
    u3.update_id = 4;
    let err = apply_update(&s2, &u3).unwrap_err();
    assert_eq!(
        err,
        VerifyError::OutOfOrder {
            expected: 3,
            found: 4
        }
    );
}

/// Verifies and expects the named check to fail.
fn refused(
    set: &ConsumerSet,
    u: &pb::ValidatorSetUpdate,
    answer: &svc::GetValidatorSetResponse,
    app_hash: &[u8],
    check: &str,
) -> VerifyError {
    let err = verify_update(set, u, answer, app_hash).unwrap_err();
    assert_eq!(err.check(), check, "{err}");
    err
}

#[test]
fn a_tampered_update_fails_with_the_check_that_caught_it() {
    let (hub, start, u) = first_update();
    let app_hash = hub.roots[&20];
    let answer = hub.answer(ID, 20);
    verify_update(&start, &u, &answer, &app_hash).unwrap();

    // A changed power: the recomputed set hash differs from the update's.
    let mut t = u.clone();
    t.changes[1].power = 51;
    let err = refused(&start, &t, &answer, &app_hash, "set_hash_mismatch");
    assert!(err.to_string().contains("set hash mismatch"), "{err}");

    // A changed key.
    let mut t = u.clone();
    t.changes[2].pubkey = key(7).to_vec();
    refused(&start, &t, &answer, &app_hash, "set_hash_mismatch");

    // A changed set hash.
    let mut t = u.clone();
    t.set_hash[0] ^= 1;
    let err = refused(&start, &t, &answer, &app_hash, "set_hash_mismatch");
    match err {
        VerifyError::SetHashMismatch {
            computed, claimed, ..
        } => {
            assert_eq!(computed, hex::encode(&u.set_hash));
            assert_eq!(claimed, hex::encode(&t.set_hash));
        }
        other => panic!("{other:?}"),
    }

    // A changed power with a set hash recomputed to match: the hub's commitment differs.
    let mut t = u.clone();
    t.changes[0].power = 1000;
    let t = honest(&start, 20, 4, t.changes);
    let err = refused(&start, &t, &answer, &app_hash, "commitment_mismatch");
    assert!(matches!(
        err,
        VerifyError::CommitmentMismatch {
            field: "set_hash",
            ..
        }
    ));

    // ... and with the commitment in the answer changed to match as well: the proof fails.
    let mut forged = answer.clone();
    forged.commitment.as_mut().unwrap().set_hash = t.set_hash.clone();
    let err = refused(&start, &t, &forged, &app_hash, "proof_invalid");
    assert!(
        err.to_string().contains("consumers/set_hash/demo-1"),
        "{err}"
    );

    // Changed proof bytes: a sibling hash on the path.
    let mut proof = ics23::CommitmentProof::decode(answer.proof.as_slice()).unwrap();
    match proof.proof.as_mut().unwrap() {
        ics23::commitment_proof::Proof::Exist(e) => {
            assert!(!e.path.is_empty());
            let op = &mut e.path[0];
            if op.suffix.is_empty() {
                let last = op.prefix.len() - 1;
                op.prefix[last] ^= 1;
            } else {
                op.suffix[0] ^= 1;
            }
        }
        other => panic!("expected an existence proof, got {other:?}"),
    }
    let mut t_answer = answer.clone();
    t_answer.proof = proof.encode_to_vec();
    refused(&start, &u, &t_answer, &app_hash, "proof_invalid");

    // Proof bytes that are not a proof at all.
    let mut t_answer = answer.clone();
    t_answer.proof = vec![0xff; 7];
    refused(&start, &u, &t_answer, &app_hash, "proof_undecodable");
    // No proof.
    let mut t_answer = answer.clone();
    t_answer.proof.clear();
    refused(&start, &u, &t_answer, &app_hash, "proof_missing");

    // A changed app hash (one bit), and the app hash of another height.
    let mut bad_hash = app_hash;
    bad_hash[31] ^= 0x80;
    let err = refused(&start, &u, &answer, &bad_hash, "proof_invalid");
    assert!(err.to_string().contains(&hex::encode(bad_hash)), "{err}");
    refused(&start, &u, &answer, &hub.roots[&19], "proof_invalid");

    // The answer for another height, and one without a commitment (height 19: before it
    // was written; its proof is a non-existence proof).
    let err = refused(&start, &u, &hub.answer(ID, 19), &app_hash, "wrong_height");
    assert_eq!(
        err,
        VerifyError::WrongHeight {
            asked: 20,
            answered: 19
        }
    );
    let mut early = hub.answer(ID, 19);
    assert!(early.commitment.is_none());
    early.height = 20;
    refused(&start, &u, &early, &app_hash, "commitment_missing");

    // A commitment with another epoch or update id.
    let mut t_answer = answer.clone();
    t_answer.commitment.as_mut().unwrap().epoch = 5;
    let err = refused(&start, &u, &t_answer, &app_hash, "commitment_mismatch");
    assert!(err.to_string().contains("epoch is 5, expected 4"), "{err}");
    let mut t_answer = answer.clone();
    t_answer.commitment.as_mut().unwrap().update_id = 2;
    refused(&start, &u, &t_answer, &app_hash, "commitment_mismatch");
}

#[test]
fn malformed_updates_are_refused_before_any_proof_is_looked_at() {
    let (hub, start, u) = first_update();
    let app_hash = hub.roots[&20];
    let answer = hub.answer(ID, 20);

    let mut t = u.clone();
    t.consumer_id = "other-1".into();
    refused(&start, &t, &answer, &app_hash, "wrong_consumer");

    let mut t = u.clone();
    t.changes.swap(0, 1);
    let err = refused(&start, &t, &answer, &app_hash, "bad_change");
    assert!(err.to_string().contains("ascending"), "{err}");

    let mut t = u.clone();
    t.changes.push(change(3, 1));
    refused(&start, &t, &answer, &app_hash, "bad_change");

    let mut t = u.clone();
    t.changes[0].pubkey.pop();
    let err = refused(&start, &t, &answer, &app_hash, "bad_change");
    assert!(err.to_string().contains("31 bytes"), "{err}");

    // Removing a key that is not in the set.
    let t = honest(&start, 20, 4, vec![change(1, 100), change(4, 0)]);
    let err = refused(&start, &t, &answer, &app_hash, "bad_change");
    assert!(err.to_string().contains("not in the set"), "{err}");

    // Going back in hub height or epoch.
    let s1 = verify_update(&start, &u, &answer, &app_hash).unwrap();
    let t = honest(&s1, 19, 4, vec![change(1, 1)]);
    let err = apply_update(&s1, &t).unwrap_err();
    assert_eq!(err.check(), "goes_back");
    let t = honest(&s1, 25, 3, vec![change(1, 1)]);
    let err = apply_update(&s1, &t).unwrap_err();
    assert!(err.to_string().contains("epoch 3"), "{err}");
}

/// `answer` with the full set of `s` attached, as the hub sends it.
fn with_set(
    mut answer: svc::GetValidatorSetResponse,
    s: &ConsumerSet,
) -> svc::GetValidatorSetResponse {
    answer.set = Some(pb::ConsumerValidatorSet {
        consumer_id: s.consumer_id.clone(),
        update_id: s.update_id,
        hub_height: s.hub_height,
        epoch: s.epoch,
        validators: s
            .cometbft_order()
            .into_iter()
            .map(|(k, m)| pb::ValidatorPower {
                pubkey: k.to_vec(),
                power: m.power,
                operator_btc_pk: m.unverified_operator,
            })
            .collect(),
        set_hash: s.set_hash.to_vec(),
    });
    answer
}

#[test]
fn a_current_set_read_at_a_later_height_is_proven_against_that_heights_app_hash() {
    let (mut hub, start, u) = first_update();
    let s1 = apply_update(&start, &u).unwrap();
    // Later blocks leave the commitment as it is.
    for h in 21..=25 {
        hub.commit(h, &[]);
    }
    let answer = with_set(hub.answer(ID, 25), &s1);
    let got = set_from_answer(ID, &answer).unwrap();
    assert_eq!(got, s1);
    verify_commitment_at(&got, &answer, 25, &hub.roots[&25]).unwrap();
    // The proof is of height 25: the app hash of height 20 does not verify it.
    let err = verify_commitment_at(&got, &answer, 25, &hub.roots[&20]).unwrap_err();
    assert_eq!(err.check(), "proof_invalid");
    let err = verify_commitment(&got, &answer, &hub.roots[&25]).unwrap_err();
    assert_eq!(err.check(), "wrong_height");

    // A set that does not hash to the commitment, and malformed sets.
    let mut t = answer.clone();
    t.set.as_mut().unwrap().validators[0].power += 1;
    assert_eq!(
        set_from_answer(ID, &t).unwrap_err().check(),
        "set_hash_mismatch"
    );
    let mut t = answer.clone();
    let first = t.set.as_ref().unwrap().validators[0].clone();
    t.set.as_mut().unwrap().validators.push(first);
    let err = set_from_answer(ID, &t).unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
    let mut t = answer.clone();
    t.set.as_mut().unwrap().update_id = 2;
    assert_eq!(set_from_answer(ID, &t).unwrap_err().check(), "bad_set");
    assert_eq!(
        set_from_answer("other-1", &answer).unwrap_err().check(),
        "bad_set"
    );
    let mut t = answer.clone();
    t.set = None;
    assert_eq!(set_from_answer(ID, &t).unwrap_err().check(), "bad_set");
    let mut t = answer;
    t.commitment = None;
    assert_eq!(
        set_from_answer(ID, &t).unwrap_err().check(),
        "commitment_missing"
    );
}
