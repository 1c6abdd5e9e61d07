//! Domain types of BTC delegations: the staking txid that names a delegation, its status, the
//! covenant signatures it gathers, the delegation record itself, and inclusion proofs.
//!
//! Proto types only parse the wire; everything here has passed its checks. A record read back
//! from state is parsed again (a record that does not parse is corrupt state, a fatal error).

use crate::btc::adaptor::AdaptorSignature;
use crate::btc::error::BtcStakingError;
use crate::btc::scripts::{slashing_script, unbonding_script};
use crate::delegation::error::{corrupt, BtcDelegationError};
use crate::operator::OperatorId;
use ballast_btclightclient::merkle::MAX_MERKLE_BRANCH_LEN;
use ballast_btclightclient::TxInclusionProof;
use ballast_framework::Address;
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{schnorr, XOnlyPublicKey};
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Transaction, TxMerkleNode, TxOut, Txid};
use std::fmt;
use std::str::FromStr;

/// The id of a delegation: its staking tx's id. Shown in display order (as bitcoind prints
/// txids), 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StakingTxid(pub Txid);

impl StakingTxid {
    /// The id of a staking tx.
    pub fn of(tx: &Transaction) -> Self {
        StakingTxid(tx.compute_txid())
    }
}

impl fmt::Display for StakingTxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for StakingTxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StakingTxid({})", self.0)
    }
}

impl FromStr for StakingTxid {
    type Err = BtcDelegationError;
    /// 64 hex digits in display order (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BtcDelegationError::InvalidStakingTxid {
            input: s.to_string(),
        };
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Txid::from_str(&s.to_ascii_lowercase())
            .map(StakingTxid)
            .map_err(|_| bad())
    }
}

/// Where a delegation is in its lifecycle (PROTOCOL.md, "Delegation lifecycle").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DelegationStatus {
    /// Waiting for the covenant quorum.
    Pending,
    /// The quorum signed; waiting for the staking tx to be k deep.
    Verified,
    /// Counts for power.
    Active,
    /// Spent or undelegated; slashable until the unbonding time has passed.
    Unbonding,
    /// The unbonding time has passed.
    Unbonded,
    /// The timelock has less than the unbonding time left.
    Expired,
    /// Its operator was slashed.
    Slashed,
}

impl DelegationStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DelegationStatus; 7] = [
        DelegationStatus::Pending,
        DelegationStatus::Verified,
        DelegationStatus::Active,
        DelegationStatus::Unbonding,
        DelegationStatus::Unbonded,
        DelegationStatus::Expired,
        DelegationStatus::Slashed,
    ];

    /// Its name, as in events and the proto enum.
    pub fn as_str(self) -> &'static str {
        match self {
            DelegationStatus::Pending => "PENDING",
            DelegationStatus::Verified => "VERIFIED",
            DelegationStatus::Active => "ACTIVE",
            DelegationStatus::Unbonding => "UNBONDING",
            DelegationStatus::Unbonded => "UNBONDED",
            DelegationStatus::Expired => "EXPIRED",
            DelegationStatus::Slashed => "SLASHED",
        }
    }

    /// The proto enum.
    pub fn to_proto(self) -> pb::BtcDelegationStatus {
        match self {
            DelegationStatus::Pending => pb::BtcDelegationStatus::Pending,
            DelegationStatus::Verified => pb::BtcDelegationStatus::Verified,
            DelegationStatus::Active => pb::BtcDelegationStatus::Active,
            DelegationStatus::Unbonding => pb::BtcDelegationStatus::Unbonding,
            DelegationStatus::Unbonded => pb::BtcDelegationStatus::Unbonded,
            DelegationStatus::Expired => pb::BtcDelegationStatus::Expired,
            DelegationStatus::Slashed => pb::BtcDelegationStatus::Slashed,
        }
    }

    /// From the proto enum's number; `None` for UNSPECIFIED and unknown numbers.
    pub fn from_proto(n: i32) -> Option<Self> {
        match pb::BtcDelegationStatus::try_from(n).ok()? {
            pb::BtcDelegationStatus::Unspecified => None,
            pb::BtcDelegationStatus::Pending => Some(DelegationStatus::Pending),
            pb::BtcDelegationStatus::Verified => Some(DelegationStatus::Verified),
            pb::BtcDelegationStatus::Active => Some(DelegationStatus::Active),
            pb::BtcDelegationStatus::Unbonding => Some(DelegationStatus::Unbonding),
            pb::BtcDelegationStatus::Unbonded => Some(DelegationStatus::Unbonded),
            pb::BtcDelegationStatus::Expired => Some(DelegationStatus::Expired),
            pb::BtcDelegationStatus::Slashed => Some(DelegationStatus::Slashed),
        }
    }

    /// Whether the staking output is still locked and unspent as far as the chain knows
    /// (PENDING, VERIFIED or ACTIVE): the statuses an undelegation or spend report moves.
    pub fn is_bonded(self) -> bool {
        matches!(
            self,
            DelegationStatus::Pending | DelegationStatus::Verified | DelegationStatus::Active
        )
    }
}

impl fmt::Display for DelegationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One covenant member's verified signatures on a delegation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CovenantSigs {
    /// The member's key.
    pub covenant_pk: XOnlyPublicKey,
    /// Adaptor signature on the staking output's slashing tx, encrypted to the operator key.
    pub slashing_adaptor_sig: AdaptorSignature,
    /// Adaptor signature on the unbonding output's slashing tx, encrypted to the operator key.
    pub unbonding_slashing_adaptor_sig: AdaptorSignature,
    /// BIP-340 signature on the unbonding tx (unbonding leaf).
    pub unbonding_sig: schnorr::Signature,
}

impl CovenantSigs {
    /// The proto form.
    pub fn to_proto(&self) -> pb::CovenantSignatures {
        pb::CovenantSignatures {
            covenant_pk: self.covenant_pk.serialize().to_vec(),
            slashing_adaptor_sig: self.slashing_adaptor_sig.to_bytes().to_vec(),
            unbonding_slashing_adaptor_sig: self.unbonding_slashing_adaptor_sig.to_bytes().to_vec(),
            unbonding_sig: self.unbonding_sig.serialize().to_vec(),
        }
    }
}

/// Where the staking tx was proven: its block and the timelock window it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inclusion {
    /// The block holding the staking tx.
    pub block_hash: BlockHash,
    /// That block's height.
    pub start_height: u64,
    /// `start_height + staking_time`: where the timelock ends.
    pub end_height: u64,
}

/// A BTC delegation as the chain keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtcDelegation {
    /// Its id.
    pub staking_txid: StakingTxid,
    /// The account that receives the rewards.
    pub staker_addr: Address,
    /// The staker's BTC key.
    pub staker_pk: XOnlyPublicKey,
    /// The operator it is delegated to.
    pub operator: OperatorId,
    /// The operator's key (the same 32 bytes as `operator`, parsed).
    pub operator_pk: XOnlyPublicKey,
    /// Staking timelock, Bitcoin blocks.
    pub staking_time: u32,
    /// Staked satoshis.
    pub staking_value_sat: u64,
    /// The staking tx.
    pub staking_tx: Transaction,
    /// Index of the staking output.
    pub staking_output_index: u32,
    /// Slashing tx of the staking output.
    pub slashing_tx: Transaction,
    /// The staker's signature on it.
    pub delegator_slashing_sig: schnorr::Signature,
    /// The unbonding tx.
    pub unbonding_tx: Transaction,
    /// Slashing tx of the unbonding output.
    pub unbonding_slashing_tx: Transaction,
    /// The staker's signature on it.
    pub delegator_unbonding_slashing_sig: schnorr::Signature,
    /// Covenant signatures gathered so far, in arrival order.
    pub covenant_sigs: Vec<CovenantSigs>,
    /// Its status.
    pub status: DelegationStatus,
    /// Where the staking tx was proven, once it was.
    pub inclusion: Option<Inclusion>,
    /// Light-client tip height when it became UNBONDING (0 before).
    pub unbonding_btc_height: u64,
    /// The spend that made it UNBONDING (the staker-signed unbonding tx, or a proven spend).
    pub spend_tx: Option<Transaction>,
    /// Hub height of creation.
    pub created_height: u64,
    /// The covenant committee it was created under.
    pub covenant_pks: Vec<XOnlyPublicKey>,
    /// The quorum it was created under.
    pub covenant_quorum: u32,
    /// The unbonding time it was created under.
    pub unbonding_time: u32,
}

impl BtcDelegation {
    /// The staking outpoint.
    pub fn staking_outpoint(&self) -> OutPoint {
        OutPoint::new(self.staking_txid.0, self.staking_output_index)
    }

    /// The staking output (checked to exist at creation).
    pub fn staking_output(&self) -> Result<&TxOut, BtcDelegationError> {
        usize::try_from(self.staking_output_index)
            .ok()
            .and_then(|i| self.staking_tx.output.get(i))
            .ok_or_else(|| {
                corrupt(format!(
                    "delegation {} has no staking output",
                    self.staking_txid
                ))
            })
    }

    /// The unbonding output (checked to exist at creation).
    pub fn unbonding_output(&self) -> Result<&TxOut, BtcDelegationError> {
        self.unbonding_tx.output.first().ok_or_else(|| {
            corrupt(format!(
                "delegation {} has no unbonding output",
                self.staking_txid
            ))
        })
    }

    /// The slashing leaf (the same script in the staking and the unbonding output).
    pub fn slashing_script(&self) -> Result<ScriptBuf, BtcStakingError> {
        slashing_script(
            &self.staker_pk,
            &[self.operator_pk],
            &self.covenant_pks,
            self.covenant_quorum,
        )
    }

    /// The unbonding leaf of the staking output.
    pub fn unbonding_script(&self) -> Result<ScriptBuf, BtcStakingError> {
        unbonding_script(&self.staker_pk, &self.covenant_pks, self.covenant_quorum)
    }

    /// Whether `pk` already signed.
    pub fn has_signed(&self, pk: &XOnlyPublicKey) -> bool {
        self.covenant_sigs.iter().any(|s| s.covenant_pk == *pk)
    }

    /// Whether the covenant quorum has signed.
    pub fn has_quorum(&self) -> bool {
        u32::try_from(self.covenant_sigs.len()).is_ok_and(|n| n >= self.covenant_quorum)
    }

    /// The Bitcoin height from which the delegation is EXPIRED (the tip plus the unbonding
    /// time reaches the end of the timelock), once the staking tx is proven.
    pub fn expiry_height(&self) -> Option<u64> {
        self.inclusion
            .map(|i| i.end_height.saturating_sub(u64::from(self.unbonding_time)))
    }

    /// The Bitcoin height from which an UNBONDING delegation is UNBONDED.
    pub fn unbonded_height(&self) -> u64 {
        self.unbonding_btc_height
            .saturating_add(u64::from(self.unbonding_time))
    }

    /// The proto form (what state stores and queries return).
    pub fn to_proto(&self) -> pb::BtcDelegation {
        let ser = bitcoin::consensus::serialize::<Transaction>;
        pb::BtcDelegation {
            staker_addr: self.staker_addr.to_string(),
            btc_pk: self.staker_pk.serialize().to_vec(),
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            staking_time: self.staking_time,
            staking_value: self.staking_value_sat,
            staking_tx: ser(&self.staking_tx),
            staking_output_index: self.staking_output_index,
            slashing_tx: ser(&self.slashing_tx),
            delegator_slashing_sig: self.delegator_slashing_sig.serialize().to_vec(),
            unbonding_tx: ser(&self.unbonding_tx),
            unbonding_slashing_tx: ser(&self.unbonding_slashing_tx),
            delegator_unbonding_slashing_sig: self
                .delegator_unbonding_slashing_sig
                .serialize()
                .to_vec(),
            covenant_sigs: self
                .covenant_sigs
                .iter()
                .map(CovenantSigs::to_proto)
                .collect(),
            status: self.status.to_proto() as i32,
            start_height: self.inclusion.map_or(0, |i| i.start_height),
            end_height: self.inclusion.map_or(0, |i| i.end_height),
            inclusion_block_hash: self
                .inclusion
                .map(|i| i.block_hash.to_byte_array().to_vec())
                .unwrap_or_default(),
            unbonding_btc_height: self.unbonding_btc_height,
            spend_tx: self.spend_tx.as_ref().map(ser).unwrap_or_default(),
            created_height: self.created_height,
            covenant_pks: self
                .covenant_pks
                .iter()
                .map(|k| k.serialize().to_vec())
                .collect(),
            covenant_quorum: self.covenant_quorum,
            unbonding_time: self.unbonding_time,
            staking_txid: self.staking_txid.to_string(),
        }
    }

    /// Parses a stored record. Any failure means corrupt state: records are written only from
    /// checked messages.
    pub fn from_stored(p: &pb::BtcDelegation) -> Result<Self, BtcDelegationError> {
        Self::parse_stored(p).map_err(|why| {
            corrupt(format!(
                "stored btc delegation {} does not parse: {why}",
                p.staking_txid
            ))
        })
    }

    fn parse_stored(p: &pb::BtcDelegation) -> Result<Self, String> {
        let key = |what: &str, b: &[u8]| {
            XOnlyPublicKey::from_slice(b).map_err(|e| format!("{what}: {e}"))
        };
        let tx = |what: &str, b: &[u8]| {
            bitcoin::consensus::deserialize::<Transaction>(b).map_err(|e| format!("{what}: {e}"))
        };
        let sig = |what: &str, b: &[u8]| {
            schnorr::Signature::from_slice(b).map_err(|e| format!("{what}: {e}"))
        };
        let staking_tx = tx("staking_tx", &p.staking_tx)?;
        let staking_txid = StakingTxid::of(&staking_tx);
        if staking_txid.to_string() != p.staking_txid {
            return Err(format!(
                "staking_txid does not match the tx ({staking_txid})"
            ));
        }
        let operator_pk = key("operator_btc_pk", &p.operator_btc_pk)?;
        let status = DelegationStatus::from_proto(p.status)
            .ok_or_else(|| format!("status {} is not a delegation status", p.status))?;
        let inclusion = if p.inclusion_block_hash.is_empty() {
            None
        } else {
            let h: [u8; 32] = p
                .inclusion_block_hash
                .as_slice()
                .try_into()
                .map_err(|_| "inclusion_block_hash is not 32 bytes".to_string())?;
            Some(Inclusion {
                block_hash: BlockHash::from_byte_array(h),
                start_height: p.start_height,
                end_height: p.end_height,
            })
        };
        let mut covenant_sigs = Vec::with_capacity(p.covenant_sigs.len());
        for c in &p.covenant_sigs {
            covenant_sigs.push(CovenantSigs {
                covenant_pk: key("covenant_pk", &c.covenant_pk)?,
                slashing_adaptor_sig: AdaptorSignature::from_bytes(&c.slashing_adaptor_sig)
                    .map_err(|e| format!("slashing_adaptor_sig: {e}"))?,
                unbonding_slashing_adaptor_sig: AdaptorSignature::from_bytes(
                    &c.unbonding_slashing_adaptor_sig,
                )
                .map_err(|e| format!("unbonding_slashing_adaptor_sig: {e}"))?,
                unbonding_sig: sig("unbonding_sig", &c.unbonding_sig)?,
            });
        }
        Ok(BtcDelegation {
            staking_txid,
            staker_addr: p
                .staker_addr
                .parse()
                .map_err(|e| format!("staker_addr: {e}"))?,
            staker_pk: key("btc_pk", &p.btc_pk)?,
            operator: OperatorId::new(operator_pk.serialize()),
            operator_pk,
            staking_time: p.staking_time,
            staking_value_sat: p.staking_value,
            staking_tx,
            staking_output_index: p.staking_output_index,
            slashing_tx: tx("slashing_tx", &p.slashing_tx)?,
            delegator_slashing_sig: sig("delegator_slashing_sig", &p.delegator_slashing_sig)?,
            unbonding_tx: tx("unbonding_tx", &p.unbonding_tx)?,
            unbonding_slashing_tx: tx("unbonding_slashing_tx", &p.unbonding_slashing_tx)?,
            delegator_unbonding_slashing_sig: sig(
                "delegator_unbonding_slashing_sig",
                &p.delegator_unbonding_slashing_sig,
            )?,
            covenant_sigs,
            status,
            inclusion,
            unbonding_btc_height: p.unbonding_btc_height,
            spend_tx: if p.spend_tx.is_empty() {
                None
            } else {
                Some(tx("spend_tx", &p.spend_tx)?)
            },
            created_height: p.created_height,
            covenant_pks: p
                .covenant_pks
                .iter()
                .map(|k| key("covenant_pks", k))
                .collect::<Result<_, _>>()?,
            covenant_quorum: p.covenant_quorum,
            unbonding_time: p.unbonding_time,
        })
    }
}

/// Parses a proof's wire form: a Merkle branch of whole 32-byte hashes (at most
/// [`MAX_MERKLE_BRANCH_LEN`]) and a 32-byte block hash (internal byte order).
pub fn parse_inclusion_proof(
    p: &pb::BtcInclusionProof,
) -> Result<TxInclusionProof, BtcDelegationError> {
    let bad = |reason: String| BtcDelegationError::MalformedInclusionProof { reason };
    if !p.merkle_nodes.len().is_multiple_of(32) {
        return Err(bad(format!(
            "merkle_nodes is {} bytes, expected a multiple of 32",
            p.merkle_nodes.len()
        )));
    }
    if p.merkle_nodes.len() / 32 > MAX_MERKLE_BRANCH_LEN {
        return Err(bad(format!(
            "merkle_nodes has {} hashes, expected at most {MAX_MERKLE_BRANCH_LEN}",
            p.merkle_nodes.len() / 32
        )));
    }
    let block: [u8; 32] = p.block_hash.as_slice().try_into().map_err(|_| {
        bad(format!(
            "block_hash is {} bytes, expected 32",
            p.block_hash.len()
        ))
    })?;
    let branch = p
        .merkle_nodes
        .chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            TxMerkleNode::from_byte_array(a)
        })
        .collect();
    Ok(TxInclusionProof {
        block_hash: BlockHash::from_byte_array(block),
        index: p.tx_index,
        branch,
    })
}

/// The wire form of a proof.
pub fn inclusion_proof_to_proto(p: &TxInclusionProof) -> pb::BtcInclusionProof {
    pb::BtcInclusionProof {
        tx_index: p.index,
        merkle_nodes: p.branch.iter().flat_map(|n| n.to_byte_array()).collect(),
        block_hash: p.block_hash.to_byte_array().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::ErrorCode;

    #[test]
    fn txids_parse_in_display_order_only_as_64_hex_digits() {
        let t = StakingTxid(Txid::from_byte_array([0xab; 32]));
        let s = t.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<StakingTxid>().expect("own display"), t);
        assert_eq!(s.to_uppercase().parse::<StakingTxid>().expect("upper"), t);
        let plus = format!("+{}", &s[1..]);
        for bad in ["", "zz", &"a".repeat(63), &"a".repeat(65), &plus] {
            let e = bad.parse::<StakingTxid>().expect_err(bad);
            assert_eq!(e.code(), 50, "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip_through_the_proto_enum() {
        for s in DelegationStatus::ALL {
            assert_eq!(DelegationStatus::from_proto(s.to_proto() as i32), Some(s));
            assert_eq!(s.to_proto().as_str_name(), s.as_str());
        }
        assert_eq!(DelegationStatus::from_proto(0), None);
        assert_eq!(DelegationStatus::from_proto(99), None);
        assert!(DelegationStatus::Verified.is_bonded());
        assert!(!DelegationStatus::Unbonding.is_bonded());
    }

    #[test]
    fn malformed_proofs_are_refused_with_54() {
        let ok = pb::BtcInclusionProof {
            tx_index: 1,
            merkle_nodes: vec![7; 64],
            block_hash: vec![9; 32],
        };
        let p = parse_inclusion_proof(&ok).expect("well formed");
        assert_eq!(p.branch.len(), 2);
        assert_eq!(inclusion_proof_to_proto(&p), ok);
        let code = |p: pb::BtcInclusionProof| parse_inclusion_proof(&p).expect_err("bad").code();
        assert_eq!(
            code(pb::BtcInclusionProof {
                merkle_nodes: vec![1; 33],
                ..ok.clone()
            }),
            54
        );
        assert_eq!(
            code(pb::BtcInclusionProof {
                merkle_nodes: vec![1; 32 * (MAX_MERKLE_BRANCH_LEN + 1)],
                ..ok.clone()
            }),
            54
        );
        assert_eq!(
            code(pb::BtcInclusionProof {
                block_hash: vec![1; 31],
                ..ok
            }),
            54
        );
    }
}
