//! Tapscript leaves, taproot trees and script-path witnesses of BTC staking, byte-compatible
//! with Babylon's staking scripts.
//!
//! Leaves (all keys BIP-340 x-only):
//! - timelock: `<staker> OP_CHECKSIGVERIFY <staking_time> OP_CHECKSEQUENCEVERIFY`;
//! - unbonding: `<staker> OP_CHECKSIGVERIFY` then the covenant multisig;
//! - slashing: `<staker> OP_CHECKSIGVERIFY`, the operator key(s) (threshold 1, verified),
//!   then the covenant multisig;
//! - unbonding timelock: `<staker> OP_CHECKSIGVERIFY <unbonding_time> OP_CHECKSEQUENCEVERIFY`.
//!
//! A key set ([`multisig_script`]) is sorted ascending bytewise:
//! `<k1> OP_CHECKSIG <k2> OP_CHECKSIGADD … <kn> OP_CHECKSIGADD <threshold> OP_NUMEQUAL`
//! (`OP_NUMEQUALVERIFY` when more script follows). A single key is just `<k> OP_CHECKSIG`
//! (`OP_CHECKSIGVERIFY`), whatever the threshold. Numbers use the minimal push: `OP_1`…`OP_16`
//! for 1 to 16, else a minimal script number.
//!
//! Every tree hangs under the unspendable internal key [`unspendable_key`] (BIP-341's NUMS
//! point), so the outputs can only be spent through a leaf:
//! - [`StakingInfo`]: the staking output, tree `[slashing, [unbonding, timelock]]`;
//! - [`UnbondingInfo`]: the unbonding output, tree `[slashing, unbonding_timelock]`;
//! - [`SlashingChangeInfo`]: the change output of a slashing tx, the single leaf
//!   unbonding_timelock.
//!
//! All three dereference to [`TaprootOutputInfo`], which gives the output script, tweaked
//! output key, merkle root, address, each leaf and its control block, and
//! [`TaprootOutputInfo::witness`], which assembles a script-path witness from signatures.
//!
//! ```
//! use ballast_restaking::btc::scripts::{Leaf, StakingInfo};
//! # use bitcoin::secp256k1::{SecretKey, SECP256K1};
//! # let key = |i: u8| SecretKey::from_slice(&[i; 32]).unwrap().x_only_public_key(SECP256K1).0;
//! let info = StakingInfo::new(key(1), &[key(2)], &[key(3), key(4), key(5)], 2, 1000, 500_000)
//!     .expect("valid keys and times");
//! let txout = info.output();
//! let unbonding_leaf = info.leaf(Leaf::Unbonding).expect("in the staking tree");
//! let control_block = info.control_block(Leaf::Unbonding).expect("in the staking tree");
//! # let _ = (txout, unbonding_leaf, control_block);
//! ```

use std::ops::Deref;

use bitcoin::blockdata::opcodes::all::{
    OP_CHECKSIG, OP_CHECKSIGADD, OP_CHECKSIGVERIFY, OP_CSV, OP_NUMEQUAL, OP_NUMEQUALVERIFY,
};
use bitcoin::key::TweakedPublicKey;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{schnorr, XOnlyPublicKey, SECP256K1};
use bitcoin::taproot::{
    ControlBlock, LeafVersion, TapLeafHash, TapNodeHash, TaprootBuilder, TaprootSpendInfo,
};
use bitcoin::{Address, Amount, Network, Script, ScriptBuf, TxOut, Witness};

use super::error::BtcStakingError;
use super::params::{check_distinct_keys, check_quorum, check_timelock, BtcStakingParams};

/// BIP-341's NUMS point: the internal key of every staking tree, with no known secret key.
pub const UNSPENDABLE_KEY_HEX: &str =
    "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

const UNSPENDABLE_KEY: [u8; 32] = [
    0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b, 0x60, 0x35, 0xe9, 0x7a, 0x5e,
    0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec, 0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
];

/// The unspendable internal key ([`UNSPENDABLE_KEY_HEX`]).
pub fn unspendable_key() -> XOnlyPublicKey {
    XOnlyPublicKey::from_slice(&UNSPENDABLE_KEY).expect("the NUMS point is a valid x-only key")
}

/// A leaf of one of the staking trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leaf {
    /// Staker, operator(s) and covenant quorum: the slashing path.
    Slashing,
    /// Staker and covenant quorum: the early unbonding path.
    Unbonding,
    /// Staker after the staking time: the withdrawal path.
    Timelock,
    /// Staker after the unbonding time: withdrawal from an unbonding or slashing change output.
    UnbondingTimelock,
}

impl Leaf {
    /// The leaf's name as in the reference vectors' `controlBlocks`.
    pub fn name(self) -> &'static str {
        match self {
            Leaf::Slashing => "slashing",
            Leaf::Unbonding => "unbonding",
            Leaf::Timelock => "timelock",
            Leaf::UnbondingTimelock => "unbondingTimelock",
        }
    }
}

/// Sorts x-only keys ascending bytewise.
pub fn sorted_keys(keys: &[XOnlyPublicKey]) -> Vec<XOnlyPublicKey> {
    let mut v = keys.to_vec();
    v.sort_by_key(XOnlyPublicKey::serialize);
    v
}

/// `<key> OP_CHECKSIGVERIFY` (`verify`) or `<key> OP_CHECKSIG`.
pub fn single_key_script(key: &XOnlyPublicKey, verify: bool) -> ScriptBuf {
    Builder::new()
        .push_slice(key.serialize())
        .push_opcode(if verify {
            OP_CHECKSIGVERIFY
        } else {
            OP_CHECKSIG
        })
        .into_script()
}

/// A threshold multisig over `keys` (sorted here), or a single-key script for one key.
/// Refuses an empty or repeated key set and a threshold outside 1 to the number of keys.
pub fn multisig_script(
    what: &'static str,
    keys: &[XOnlyPublicKey],
    threshold: u32,
    verify: bool,
) -> Result<ScriptBuf, BtcStakingError> {
    check_distinct_keys(what, keys)?;
    check_quorum(threshold, keys.len())?;
    let sorted = sorted_keys(keys);
    if let [only] = sorted.as_slice() {
        return Ok(single_key_script(only, verify));
    }
    let mut b = Builder::new();
    for (i, k) in sorted.iter().enumerate() {
        b = b.push_slice(k.serialize()).push_opcode(if i == 0 {
            OP_CHECKSIG
        } else {
            OP_CHECKSIGADD
        });
    }
    Ok(b.push_int(i64::from(threshold))
        .push_opcode(if verify {
            OP_NUMEQUALVERIFY
        } else {
            OP_NUMEQUAL
        })
        .into_script())
}

/// `<staker> OP_CHECKSIGVERIFY <blocks> OP_CHECKSEQUENCEVERIFY`: the timelock leaf (with the
/// staking time) or the unbonding-timelock leaf (with the unbonding time).
pub fn timelock_script(
    staker: &XOnlyPublicKey,
    what: &'static str,
    blocks: u32,
) -> Result<ScriptBuf, BtcStakingError> {
    check_timelock(what, blocks)?;
    Ok(Builder::new()
        .push_slice(staker.serialize())
        .push_opcode(OP_CHECKSIGVERIFY)
        .push_int(i64::from(blocks))
        .push_opcode(OP_CSV)
        .into_script())
}

/// The unbonding leaf: `<staker> OP_CHECKSIGVERIFY` then the covenant multisig.
pub fn unbonding_script(
    staker: &XOnlyPublicKey,
    covenant_pks: &[XOnlyPublicKey],
    quorum: u32,
) -> Result<ScriptBuf, BtcStakingError> {
    let mut bytes = single_key_script(staker, true).into_bytes();
    bytes.extend_from_slice(multisig_script("covenant", covenant_pks, quorum, false)?.as_bytes());
    Ok(ScriptBuf::from_bytes(bytes))
}

/// The slashing leaf: `<staker> OP_CHECKSIGVERIFY`, the operator keys with threshold 1
/// (verified), then the covenant multisig.
pub fn slashing_script(
    staker: &XOnlyPublicKey,
    operator_pks: &[XOnlyPublicKey],
    covenant_pks: &[XOnlyPublicKey],
    quorum: u32,
) -> Result<ScriptBuf, BtcStakingError> {
    let mut bytes = single_key_script(staker, true).into_bytes();
    bytes.extend_from_slice(multisig_script("operator", operator_pks, 1, true)?.as_bytes());
    bytes.extend_from_slice(multisig_script("covenant", covenant_pks, quorum, false)?.as_bytes());
    Ok(ScriptBuf::from_bytes(bytes))
}

/// The four leaves of one delegation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StakingScripts {
    /// Staker after the staking time.
    pub timelock: ScriptBuf,
    /// Staker and covenant quorum.
    pub unbonding: ScriptBuf,
    /// Staker, operator and covenant quorum.
    pub slashing: ScriptBuf,
    /// Staker after the unbonding time.
    pub unbonding_timelock: ScriptBuf,
}

impl StakingScripts {
    /// Builds the four leaves.
    pub fn new(
        staker: &XOnlyPublicKey,
        operator_pks: &[XOnlyPublicKey],
        covenant_pks: &[XOnlyPublicKey],
        quorum: u32,
        staking_time: u32,
        unbonding_time: u32,
    ) -> Result<Self, BtcStakingError> {
        Ok(StakingScripts {
            timelock: timelock_script(staker, "staking time", staking_time)?,
            unbonding: unbonding_script(staker, covenant_pks, quorum)?,
            slashing: slashing_script(staker, operator_pks, covenant_pks, quorum)?,
            unbonding_timelock: timelock_script(staker, "unbonding time", unbonding_time)?,
        })
    }
}

/// Signatures for a script-path spend (BIP-340, `SIGHASH_DEFAULT`, 64 bytes each). Only
/// the ones the leaf needs are used; covenant and operator signatures are matched to their
/// keys, so their order here does not matter.
#[derive(Clone, Debug, Default)]
pub struct SpendSignatures {
    /// The staker's signature (every leaf needs it).
    pub staker: Option<schnorr::Signature>,
    /// Operator signatures, by key (the slashing leaf needs exactly one).
    pub operators: Vec<(XOnlyPublicKey, schnorr::Signature)>,
    /// Covenant signatures, by key (the unbonding and slashing leaves need the quorum).
    pub covenants: Vec<(XOnlyPublicKey, schnorr::Signature)>,
}

/// Witness elements for a threshold key set, bottom of the stack first: one element per key
/// in reverse sorted order (the script checks the first sorted key first, so its signature
/// must be on top), an empty element for a key that does not sign (`OP_CHECKSIG` and
/// `OP_CHECKSIGADD` count an empty signature as a failed check without failing the script).
/// Exactly `threshold` signatures are used, because `OP_NUMEQUAL` needs the exact count: the
/// first `threshold` signers in sorted key order. A single-key set needs its signature.
pub fn multisig_witness_elements(
    what: &'static str,
    keys: &[XOnlyPublicKey],
    threshold: u32,
    sigs: &[(XOnlyPublicKey, schnorr::Signature)],
) -> Result<Vec<Vec<u8>>, BtcStakingError> {
    let sorted = sorted_keys(keys);
    if let Some((k, _)) = sigs.iter().find(|(k, _)| !sorted.contains(k)) {
        return Err(BtcStakingError::UnknownSigner {
            what,
            key: hex::encode(k.serialize()),
        });
    }
    let needed = if sorted.len() == 1 {
        1
    } else {
        usize::try_from(threshold).map_err(|_| BtcStakingError::InvalidQuorum {
            quorum: threshold,
            keys: sorted.len(),
        })?
    };
    let mut used = 0usize;
    let mut elements = Vec::with_capacity(sorted.len());
    for k in &sorted {
        let sig = if used < needed {
            sigs.iter().find(|(sk, _)| sk == k).map(|(_, s)| s)
        } else {
            None
        };
        match sig {
            Some(s) => {
                used += 1;
                elements.push(s.as_ref().to_vec());
            }
            None => elements.push(Vec::new()),
        }
    }
    if used < needed {
        return Err(BtcStakingError::NotEnoughSignatures {
            what,
            expected: needed,
            found: used,
        });
    }
    elements.reverse();
    Ok(elements)
}

/// A P2TR output with a script tree under the unspendable key: its leaves, spend info and
/// value. [`StakingInfo`], [`UnbondingInfo`] and [`SlashingChangeInfo`] dereference to it.
#[derive(Clone, Debug)]
pub struct TaprootOutputInfo {
    leaves: Vec<(Leaf, ScriptBuf)>,
    spend_info: TaprootSpendInfo,
    value_sat: u64,
    staker: XOnlyPublicKey,
    operator_pks: Vec<XOnlyPublicKey>,
    covenant_pks: Vec<XOnlyPublicKey>,
    quorum: u32,
}

impl TaprootOutputInfo {
    fn build(
        tree: &[(u8, Leaf, ScriptBuf)],
        value_sat: u64,
        staker: XOnlyPublicKey,
        operator_pks: Vec<XOnlyPublicKey>,
        covenant_pks: Vec<XOnlyPublicKey>,
        quorum: u32,
    ) -> Self {
        let mut builder = TaprootBuilder::new();
        for (depth, _, script) in tree {
            builder = builder
                .add_leaf(*depth, script.clone())
                .expect("the staking trees have fixed, valid depths");
        }
        let spend_info = builder
            .finalize(SECP256K1, unspendable_key())
            .unwrap_or_else(|_| unreachable!("the staking trees are complete"));
        TaprootOutputInfo {
            leaves: tree.iter().map(|(_, l, s)| (*l, s.clone())).collect(),
            spend_info,
            value_sat,
            staker,
            operator_pks: sorted_keys(&operator_pks),
            covenant_pks: sorted_keys(&covenant_pks),
            quorum,
        }
    }

    /// The staker's key.
    pub fn staker_pk(&self) -> XOnlyPublicKey {
        self.staker
    }

    /// The operator keys, sorted (empty for the slashing change output).
    pub fn operator_pks(&self) -> &[XOnlyPublicKey] {
        &self.operator_pks
    }

    /// The covenant keys, sorted (empty for the slashing change output).
    pub fn covenant_pks(&self) -> &[XOnlyPublicKey] {
        &self.covenant_pks
    }

    /// The covenant quorum (0 for the slashing change output).
    pub fn covenant_quorum(&self) -> u32 {
        self.quorum
    }

    /// The leaves of the tree, in tree order.
    pub fn leaves(&self) -> impl Iterator<Item = (Leaf, &Script)> {
        self.leaves.iter().map(|(l, s)| (*l, s.as_script()))
    }

    /// A leaf's script.
    pub fn leaf(&self, leaf: Leaf) -> Result<&Script, BtcStakingError> {
        self.leaves
            .iter()
            .find(|(l, _)| *l == leaf)
            .map(|(_, s)| s.as_script())
            .ok_or_else(|| BtcStakingError::LeafNotInTree {
                leaf: leaf.name(),
                expected: self
                    .leaves
                    .iter()
                    .map(|(l, _)| l.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A leaf's BIP-341 leaf hash (what a script-path sighash commits to).
    pub fn leaf_hash(&self, leaf: Leaf) -> Result<TapLeafHash, BtcStakingError> {
        Ok(TapLeafHash::from_script(
            self.leaf(leaf)?,
            LeafVersion::TapScript,
        ))
    }

    /// The control block that proves a leaf is in the tree.
    pub fn control_block(&self, leaf: Leaf) -> Result<ControlBlock, BtcStakingError> {
        let script = self.leaf(leaf)?.to_owned();
        Ok(self
            .spend_info
            .control_block(&(script, LeafVersion::TapScript))
            .expect("every leaf of the tree has a control block"))
    }

    /// The taproot spend info (internal key, merkle root, output key, leaf proofs).
    pub fn spend_info(&self) -> &TaprootSpendInfo {
        &self.spend_info
    }

    /// The tweaked output key.
    pub fn output_key(&self) -> TweakedPublicKey {
        self.spend_info.output_key()
    }

    /// The merkle root of the tree (for one leaf, that leaf's hash).
    pub fn merkle_root(&self) -> TapNodeHash {
        self.spend_info
            .merkle_root()
            .expect("the staking trees have leaves")
    }

    /// The output script: `OP_1 <output key>`.
    pub fn script_pubkey(&self) -> ScriptBuf {
        ScriptBuf::new_p2tr_tweaked(self.output_key())
    }

    /// The output's address on `network`.
    pub fn address(&self, network: Network) -> Address {
        Address::p2tr_tweaked(self.output_key(), network)
    }

    /// The output's value.
    pub fn value_sat(&self) -> u64 {
        self.value_sat
    }

    /// The output: value and script.
    pub fn output(&self) -> TxOut {
        TxOut {
            value: Amount::from_sat(self.value_sat),
            script_pubkey: self.script_pubkey(),
        }
    }

    /// The script-path witness spending this output through `leaf`: the signatures the leaf
    /// checks, then the leaf script, then its control block. The stack, bottom first, is:
    /// covenant signatures (reverse sorted key order, empty for non-signers), operator
    /// signature(s) likewise, the staker's signature; the script checks them top down.
    pub fn witness(&self, leaf: Leaf, sigs: &SpendSignatures) -> Result<Witness, BtcStakingError> {
        let script = self.leaf(leaf)?;
        let control_block = self.control_block(leaf)?;
        let staker_sig = sigs.staker.ok_or(BtcStakingError::NotEnoughSignatures {
            what: "staker",
            expected: 1,
            found: 0,
        })?;
        let mut elements: Vec<Vec<u8>> = Vec::new();
        if matches!(leaf, Leaf::Slashing | Leaf::Unbonding) {
            elements.extend(multisig_witness_elements(
                "covenant",
                &self.covenant_pks,
                self.quorum,
                &sigs.covenants,
            )?);
        }
        if leaf == Leaf::Slashing {
            elements.extend(multisig_witness_elements(
                "operator",
                &self.operator_pks,
                1,
                &sigs.operators,
            )?);
        }
        elements.push(staker_sig.as_ref().to_vec());
        elements.push(script.to_bytes());
        elements.push(control_block.serialize());
        Ok(Witness::from_slice(&elements))
    }
}

/// The staking output: tree `[slashing, [unbonding, timelock]]`.
#[derive(Clone, Debug)]
pub struct StakingInfo {
    info: TaprootOutputInfo,
}

impl StakingInfo {
    /// Builds the staking output of a delegation.
    pub fn new(
        staker: XOnlyPublicKey,
        operator_pks: &[XOnlyPublicKey],
        covenant_pks: &[XOnlyPublicKey],
        quorum: u32,
        staking_time: u32,
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        let timelock = timelock_script(&staker, "staking time", staking_time)?;
        let unbonding = unbonding_script(&staker, covenant_pks, quorum)?;
        let slashing = slashing_script(&staker, operator_pks, covenant_pks, quorum)?;
        let info = TaprootOutputInfo::build(
            &[
                (1, Leaf::Slashing, slashing),
                (2, Leaf::Unbonding, unbonding),
                (2, Leaf::Timelock, timelock),
            ],
            value_sat,
            staker,
            operator_pks.to_vec(),
            covenant_pks.to_vec(),
            quorum,
        );
        Ok(StakingInfo { info })
    }

    /// The staking output under `params`' covenant committee and quorum.
    pub fn from_params(
        params: &BtcStakingParams,
        staker: XOnlyPublicKey,
        operator_pks: &[XOnlyPublicKey],
        staking_time: u32,
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        Self::new(
            staker,
            operator_pks,
            &params.covenant_pks,
            params.covenant_quorum,
            staking_time,
            value_sat,
        )
    }
}

impl Deref for StakingInfo {
    type Target = TaprootOutputInfo;
    fn deref(&self) -> &TaprootOutputInfo {
        &self.info
    }
}

/// The unbonding output: tree `[slashing, unbonding_timelock]`.
#[derive(Clone, Debug)]
pub struct UnbondingInfo {
    info: TaprootOutputInfo,
}

impl UnbondingInfo {
    /// Builds the unbonding output of a delegation worth `value_sat` (the staking value minus
    /// the unbonding fee).
    pub fn new(
        staker: XOnlyPublicKey,
        operator_pks: &[XOnlyPublicKey],
        covenant_pks: &[XOnlyPublicKey],
        quorum: u32,
        unbonding_time: u32,
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        let slashing = slashing_script(&staker, operator_pks, covenant_pks, quorum)?;
        let unbonding_timelock = timelock_script(&staker, "unbonding time", unbonding_time)?;
        let info = TaprootOutputInfo::build(
            &[
                (1, Leaf::Slashing, slashing),
                (1, Leaf::UnbondingTimelock, unbonding_timelock),
            ],
            value_sat,
            staker,
            operator_pks.to_vec(),
            covenant_pks.to_vec(),
            quorum,
        );
        Ok(UnbondingInfo { info })
    }

    /// The unbonding output under `params` (committee, quorum, unbonding time).
    pub fn from_params(
        params: &BtcStakingParams,
        staker: XOnlyPublicKey,
        operator_pks: &[XOnlyPublicKey],
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        Self::new(
            staker,
            operator_pks,
            &params.covenant_pks,
            params.covenant_quorum,
            params.unbonding_time,
            value_sat,
        )
    }
}

impl Deref for UnbondingInfo {
    type Target = TaprootOutputInfo;
    fn deref(&self) -> &TaprootOutputInfo {
        &self.info
    }
}

/// The change output of a slashing tx: the single leaf unbonding_timelock.
#[derive(Clone, Debug)]
pub struct SlashingChangeInfo {
    info: TaprootOutputInfo,
}

impl SlashingChangeInfo {
    /// Builds the slashing change output worth `value_sat`.
    pub fn new(
        staker: XOnlyPublicKey,
        unbonding_time: u32,
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        let unbonding_timelock = timelock_script(&staker, "unbonding time", unbonding_time)?;
        let info = TaprootOutputInfo::build(
            &[(0, Leaf::UnbondingTimelock, unbonding_timelock)],
            value_sat,
            staker,
            Vec::new(),
            Vec::new(),
            0,
        );
        Ok(SlashingChangeInfo { info })
    }

    /// The slashing change output under `params` (unbonding time).
    pub fn from_params(
        params: &BtcStakingParams,
        staker: XOnlyPublicKey,
        value_sat: u64,
    ) -> Result<Self, BtcStakingError> {
        Self::new(staker, params.unbonding_time, value_sat)
    }
}

impl Deref for SlashingChangeInfo {
    type Target = TaprootOutputInfo;
    fn deref(&self) -> &TaprootOutputInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{Keypair, Message, SecretKey};

    fn sk(i: u8) -> SecretKey {
        SecretKey::from_slice(&[i; 32]).expect("valid scalar")
    }

    fn key(i: u8) -> XOnlyPublicKey {
        sk(i).x_only_public_key(SECP256K1).0
    }

    fn sign(i: u8) -> schnorr::Signature {
        let kp = Keypair::from_secret_key(SECP256K1, &sk(i));
        SECP256K1.sign_schnorr_no_aux_rand(&Message::from_digest([i; 32]), &kp)
    }

    #[test]
    fn multisig_sorts_keys_and_uses_checksigadd() {
        let keys = [key(3), key(1), key(2)];
        let s = multisig_script("covenant", &keys, 2, false).expect("valid");
        let sorted = sorted_keys(&keys);
        let mut expected = Vec::new();
        for (i, k) in sorted.iter().enumerate() {
            expected.push(0x20);
            expected.extend_from_slice(&k.serialize());
            expected.push(if i == 0 { 0xac } else { 0xba });
        }
        expected.extend_from_slice(&[0x52, 0x9c]);
        assert_eq!(s.as_bytes(), expected.as_slice());
        // The order the keys are given in does not matter.
        assert_eq!(
            multisig_script("covenant", &[key(1), key(2), key(3)], 2, false).expect("valid"),
            s
        );
        // One key: a single-key script whatever the threshold's opcode would be.
        let one = multisig_script("covenant", &[key(1)], 1, true).expect("valid");
        let mut single = vec![0x20];
        single.extend_from_slice(&key(1).serialize());
        single.push(0xad);
        assert_eq!(one.as_bytes(), single.as_slice());
    }

    #[test]
    fn bad_key_sets_and_times_are_refused() {
        assert_eq!(
            multisig_script("covenant", &[], 1, false).map_err(|e| e.code()),
            Err(102)
        );
        assert_eq!(
            multisig_script("covenant", &[key(1), key(1)], 1, false).map_err(|e| e.code()),
            Err(101)
        );
        assert_eq!(
            multisig_script("covenant", &[key(1), key(2)], 3, false).map_err(|e| e.code()),
            Err(103)
        );
        assert_eq!(
            timelock_script(&key(1), "staking time", 0).map_err(|e| e.code()),
            Err(104)
        );
        assert_eq!(
            timelock_script(&key(1), "staking time", 65_536).map_err(|e| e.code()),
            Err(104)
        );
        let info = SlashingChangeInfo::new(key(1), 10, 1000).expect("valid");
        assert_eq!(info.leaf(Leaf::Timelock).map_err(|e| e.code()), Err(133));
    }

    #[test]
    fn timelocks_use_minimal_pushes() {
        let t = |n| timelock_script(&key(1), "t", n).expect("valid").to_bytes()[34..].to_vec();
        assert_eq!(t(5), vec![0x55, 0xb2]);
        assert_eq!(t(16), vec![0x60, 0xb2]);
        assert_eq!(t(17), vec![0x01, 0x11, 0xb2]);
        assert_eq!(t(200), vec![0x02, 0xc8, 0x00, 0xb2]);
        assert_eq!(t(65_535), vec![0x03, 0xff, 0xff, 0x00, 0xb2]);
    }

    #[test]
    fn control_blocks_prove_their_leaves() {
        let covenants = [key(3), key(4), key(5)];
        let staking =
            StakingInfo::new(key(1), &[key(2)], &covenants, 2, 1000, 100_000).expect("valid");
        let unbonding =
            UnbondingInfo::new(key(1), &[key(2)], &covenants, 2, 200, 99_000).expect("valid");
        let change = SlashingChangeInfo::new(key(1), 200, 50_000).expect("valid");
        for info in [&*staking, &*unbonding, &*change] {
            for (leaf, script) in info.leaves() {
                let cb = info.control_block(leaf).expect("in tree");
                assert!(cb.verify_taproot_commitment(
                    SECP256K1,
                    info.output_key().to_x_only_public_key(),
                    script
                ));
                assert_eq!(cb.internal_key, unspendable_key());
            }
        }
        assert_eq!(staking.leaves().count(), 3);
        assert_eq!(unbonding.leaves().count(), 2);
        assert_eq!(change.leaves().count(), 1);
        assert_eq!(
            change.merkle_root().to_byte_array(),
            change
                .leaf_hash(Leaf::UnbondingTimelock)
                .expect("in tree")
                .to_byte_array()
        );
        assert_eq!(staking.output().value.to_sat(), 100_000);
        assert!(staking.script_pubkey().is_p2tr());
    }

    #[test]
    fn witness_puts_signatures_in_reverse_key_order() {
        let covenants = [key(3), key(4), key(5)];
        let sorted = sorted_keys(&covenants);
        let info =
            StakingInfo::new(key(1), &[key(2)], &covenants, 2, 1000, 100_000).expect("valid");
        let by_key = |k: &XOnlyPublicKey| (3u8..=5).find(|i| key(*i) == *k).expect("member");
        // Signatures from the first and last sorted members, given in any order.
        let sigs = SpendSignatures {
            staker: Some(sign(1)),
            operators: vec![(key(2), sign(2))],
            covenants: vec![
                (sorted[2], sign(by_key(&sorted[2]))),
                (sorted[0], sign(by_key(&sorted[0]))),
            ],
        };
        let w = info
            .witness(Leaf::Slashing, &sigs)
            .expect("enough signatures");
        let items: Vec<&[u8]> = w.iter().collect();
        assert_eq!(items.len(), 3 + 1 + 1 + 2);
        assert_eq!(items[0], sign(by_key(&sorted[2])).as_ref());
        assert!(items[1].is_empty());
        assert_eq!(items[2], sign(by_key(&sorted[0])).as_ref());
        assert_eq!(items[3], sign(2).as_ref());
        assert_eq!(items[4], sign(1).as_ref());
        assert_eq!(
            items[5],
            info.leaf(Leaf::Slashing).expect("in tree").as_bytes()
        );
        assert_eq!(
            items[6],
            info.control_block(Leaf::Slashing)
                .expect("in tree")
                .serialize()
                .as_slice()
        );

        // More than the quorum: only the first `quorum` sorted signers are used.
        let all = SpendSignatures {
            covenants: covenants.iter().map(|k| (*k, sign(by_key(k)))).collect(),
            ..sigs.clone()
        };
        let w = info.witness(Leaf::Unbonding, &all).expect("enough");
        let items: Vec<&[u8]> = w.iter().collect();
        assert!(items[0].is_empty());
        assert_eq!(items[1], sign(by_key(&sorted[1])).as_ref());
        assert_eq!(items[2], sign(by_key(&sorted[0])).as_ref());
        assert_eq!(items[3], sign(1).as_ref());

        // Too few, an unknown signer, no staker signature.
        let few = SpendSignatures {
            covenants: vec![(sorted[0], sign(3))],
            ..sigs.clone()
        };
        assert_eq!(
            info.witness(Leaf::Unbonding, &few).map_err(|e| e.code()),
            Err(134)
        );
        let stranger = SpendSignatures {
            covenants: vec![(key(9), sign(9))],
            ..sigs.clone()
        };
        assert_eq!(
            info.witness(Leaf::Unbonding, &stranger)
                .map_err(|e| e.code()),
            Err(135)
        );
        let no_staker = SpendSignatures {
            staker: None,
            ..sigs.clone()
        };
        assert_eq!(
            info.witness(Leaf::Timelock, &no_staker)
                .map_err(|e| e.code()),
            Err(134)
        );
        // The timelock leaf needs the staker only.
        let w = info.witness(Leaf::Timelock, &sigs).expect("staker signed");
        assert_eq!(w.len(), 3);
    }
}
