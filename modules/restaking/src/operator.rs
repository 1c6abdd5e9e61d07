//! Operators: registration (with a BIP-340 proof of possession of the BTC key), edits of the
//! commission and description, and jailing.
//!
//! An operator's id is its BTC x-only key ([`OperatorId`]). It may carry an ed25519 consensus
//! key, which makes it eligible for the hub's validator set; no two operators share one.

use crate::error::corrupt;
use crate::{events, params, power, rewards, state_key, RestakingError};
use ballast_framework::{
    Address, ConsensusAddress, Decimal, StateRead, StateReadExt, StateWrite, StateWriteExt,
};
use ballast_proto::ballast::restaking::v1 as pb;
use secp256k1::{schnorr, Keypair, Message, SecretKey, XOnlyPublicKey, SECP256K1};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Longest moniker.
pub const MAX_MONIKER_LEN: usize = 70;
/// Longest identity.
pub const MAX_IDENTITY_LEN: usize = 3000;
/// Longest website.
pub const MAX_WEBSITE_LEN: usize = 140;
/// Longest details.
pub const MAX_DETAILS_LEN: usize = 280;

/// An operator's id: its 32-byte BIP-340 x-only BTC key. Shown as 64 lower-case hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorId([u8; 32]);

impl OperatorId {
    /// An id from its bytes (a lookup key; whether it is a valid BTC key is checked at
    /// registration, by [`OperatorId::parse_key`]).
    pub const fn new(bytes: [u8; 32]) -> Self {
        OperatorId(bytes)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An id from a byte field of a message: 32 bytes (not checked to be a curve point).
    pub fn from_slice(bytes: &[u8], field: &'static str) -> Result<Self, RestakingError> {
        <[u8; 32]>::try_from(bytes)
            .map(OperatorId)
            .map_err(|_| RestakingError::InvalidBtcKey {
                field,
                reason: format!("expected 32 bytes, found {}", bytes.len()),
            })
    }

    /// A BTC key from a byte field: 32 bytes that are the x coordinate of a secp256k1 point.
    pub fn parse_key(bytes: &[u8], field: &'static str) -> Result<Self, RestakingError> {
        let id = Self::from_slice(bytes, field)?;
        id.xonly().map_err(|_| RestakingError::InvalidBtcKey {
            field,
            reason: format!("{id} is not the x coordinate of a secp256k1 point"),
        })?;
        Ok(id)
    }

    /// The key as a secp256k1 x-only key.
    pub fn xonly(&self) -> Result<XOnlyPublicKey, secp256k1::Error> {
        XOnlyPublicKey::from_slice(&self.0)
    }

    /// The id of a secret key's x-only public key.
    pub fn from_secret_key(sk: &SecretKey) -> Self {
        OperatorId(sk.x_only_public_key(SECP256K1).0.serialize())
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperatorId({self})")
    }
}

impl FromStr for OperatorId {
    type Err = RestakingError;
    /// 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| RestakingError::InvalidBtcKey {
            field: "btc_pk",
            reason,
        };
        let bytes = hex::decode(s).map_err(|e| bad(format!("{s:?} is not hex: {e}")))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(OperatorId)
            .map_err(|_| bad(format!("expected 64 hex digits, found {}", s.len())))
    }
}

/// An operator's public description, within the length limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// Display name (1 to 70 bytes).
    pub moniker: String,
    /// Optional identity (such as a keybase id), at most 3000 bytes.
    pub identity: String,
    /// Optional website, at most 140 bytes.
    pub website: String,
    /// Optional details, at most 280 bytes.
    pub details: String,
}

impl Description {
    /// The proto form.
    pub fn to_proto(&self) -> pb::Description {
        pb::Description {
            moniker: self.moniker.clone(),
            identity: self.identity.clone(),
            website: self.website.clone(),
            details: self.details.clone(),
        }
    }
}

impl TryFrom<pb::Description> for Description {
    type Error = RestakingError;
    fn try_from(d: pb::Description) -> Result<Self, Self::Error> {
        if d.moniker.trim().is_empty() {
            return Err(RestakingError::InvalidDescription(
                "moniker must not be empty".into(),
            ));
        }
        for (name, value, max) in [
            ("moniker", &d.moniker, MAX_MONIKER_LEN),
            ("identity", &d.identity, MAX_IDENTITY_LEN),
            ("website", &d.website, MAX_WEBSITE_LEN),
            ("details", &d.details, MAX_DETAILS_LEN),
        ] {
            if value.len() > max {
                return Err(RestakingError::InvalidDescription(format!(
                    "{name} may hold at most {max} bytes, found {}",
                    value.len()
                )));
            }
        }
        Ok(Description {
            moniker: d.moniker,
            identity: d.identity,
            website: d.website,
            details: d.details,
        })
    }
}

/// A registered operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Its id (BTC key).
    pub id: OperatorId,
    /// The account that controls it.
    pub owner: Address,
    /// Its ed25519 consensus key, if it validates the hub.
    pub consensus_pubkey: Option<[u8; 32]>,
    /// Commission on rewards (0 to 1).
    pub commission: Decimal,
    /// Public description.
    pub description: Description,
    /// Whether it is jailed (excluded from the hub set).
    pub jailed: bool,
    /// Hub height of registration.
    pub registered_height: u64,
    /// The epoch `commission_at_epoch_start` refers to.
    pub commission_epoch: u64,
    /// The commission when `commission_epoch` started.
    pub commission_at_epoch_start: Decimal,
}

impl Operator {
    /// The CometBFT address of its consensus key.
    pub fn consensus_address(&self) -> Option<ConsensusAddress> {
        self.consensus_pubkey.as_ref().map(consensus_key_address)
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Operator {
        pb::Operator {
            btc_pk: self.id.to_bytes().to_vec(),
            owner: self.owner.to_string(),
            consensus_pubkey: self
                .consensus_pubkey
                .map(|k| k.to_vec())
                .unwrap_or_default(),
            commission: self.commission.to_string(),
            description: Some(self.description.to_proto()),
            jailed: self.jailed,
            registered_height: self.registered_height,
            commission_epoch: self.commission_epoch,
            commission_at_epoch_start: self.commission_at_epoch_start.to_string(),
        }
    }
}

impl TryFrom<pb::Operator> for Operator {
    type Error = RestakingError;
    fn try_from(p: pb::Operator) -> Result<Self, Self::Error> {
        let owner = p
            .owner
            .parse()
            .map_err(|source| RestakingError::InvalidAddress {
                field: "owner",
                source,
            })?;
        Ok(Operator {
            id: OperatorId::parse_key(&p.btc_pk, "btc_pk")?,
            owner,
            consensus_pubkey: parse_consensus_pubkey(&p.consensus_pubkey)?,
            commission: parse_commission(&p.commission)?,
            description: Description::try_from(p.description.unwrap_or_default())?,
            jailed: p.jailed,
            registered_height: p.registered_height,
            commission_epoch: p.commission_epoch,
            commission_at_epoch_start: parse_commission(&p.commission_at_epoch_start)?,
        })
    }
}

/// The CometBFT address of an ed25519 consensus key: the first 20 bytes of its SHA-256.
pub fn consensus_key_address(pubkey: &[u8; 32]) -> ConsensusAddress {
    let d = Sha256::digest(pubkey);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    ConsensusAddress(a)
}

/// Parses an optional consensus key: empty, or a valid 32-byte ed25519 key.
pub fn parse_consensus_pubkey(bytes: &[u8]) -> Result<Option<[u8; 32]>, RestakingError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let pk: [u8; 32] = bytes.try_into().map_err(|_| {
        RestakingError::InvalidConsensusKey(format!(
            "expected an empty field or a 32-byte ed25519 key, found {} bytes",
            bytes.len()
        ))
    })?;
    ed25519_consensus::VerificationKey::try_from(pk).map_err(|e| {
        RestakingError::InvalidConsensusKey(format!(
            "{} is not an ed25519 key: {e}",
            hex::encode(pk)
        ))
    })?;
    Ok(Some(pk))
}

/// Parses a commission: a decimal from 0 to 1.
pub fn parse_commission(s: &str) -> Result<Decimal, RestakingError> {
    let bad = || RestakingError::InvalidCommission {
        input: s.to_string(),
    };
    let d: Decimal = s.parse().map_err(|_| bad())?;
    if d > Decimal::ONE {
        return Err(bad());
    }
    Ok(d)
}

/// The message a proof of possession signs: `sha256(owner address bytes)`.
pub fn pop_message(owner: &Address) -> [u8; 32] {
    Sha256::digest(owner.0).into()
}

/// Signs the proof of possession of `sk`'s BTC key for `owner` (deterministic BIP-340).
pub fn sign_pop(sk: &SecretKey, owner: &Address) -> [u8; 64] {
    let keypair = Keypair::from_secret_key(SECP256K1, sk);
    SECP256K1
        .sign_schnorr_no_aux_rand(&Message::from_digest(pop_message(owner)), &keypair)
        .serialize()
}

/// Verifies a proof of possession: a 64-byte BIP-340 signature by `btc_pk` over
/// `sha256(owner address bytes)`.
pub fn verify_pop(btc_pk: &OperatorId, owner: &Address, sig: &[u8]) -> Result<(), RestakingError> {
    let bad = |reason: String| RestakingError::InvalidProofOfPossession {
        btc_pk: btc_pk.to_string(),
        owner: owner.to_string(),
        reason,
    };
    if sig.len() != 64 {
        return Err(bad(format!("found {} bytes", sig.len())));
    }
    let sig = schnorr::Signature::from_slice(sig).map_err(|e| bad(e.to_string()))?;
    let key = btc_pk
        .xonly()
        .map_err(|_| bad("the key is not a secp256k1 point".into()))?;
    SECP256K1
        .verify_schnorr(&sig, &Message::from_digest(pop_message(owner)), &key)
        .map_err(|_| bad("the signature does not verify".into()))
}

/// A registration with every stateless check done (the proof of possession verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRegistration {
    /// Owner (signer).
    pub owner: Address,
    /// The BTC key.
    pub id: OperatorId,
    /// Its consensus key.
    pub consensus_pubkey: Option<[u8; 32]>,
    /// Commission.
    pub commission: Decimal,
    /// Description.
    pub description: Description,
}

impl OperatorRegistration {
    /// Checks a registration message: addresses, keys, proof of possession, commission and
    /// description.
    pub fn from_proto(m: &pb::MsgRegisterOperator) -> Result<Self, RestakingError> {
        let owner: Address = m
            .owner
            .parse()
            .map_err(|source| RestakingError::InvalidAddress {
                field: "owner",
                source,
            })?;
        let id = OperatorId::parse_key(&m.btc_pk, "btc_pk")?;
        verify_pop(&id, &owner, &m.btc_pop)?;
        Ok(OperatorRegistration {
            owner,
            id,
            consensus_pubkey: parse_consensus_pubkey(&m.consensus_pubkey)?,
            commission: parse_commission(&m.commission)?,
            description: Description::try_from(m.description.clone().unwrap_or_default())?,
        })
    }
}

/// Reads an operator.
pub fn load<S: StateRead + ?Sized>(
    state: &S,
    id: &OperatorId,
) -> Result<Option<Operator>, RestakingError> {
    match state.get_proto::<pb::Operator>(state_key::operator(id))? {
        None => Ok(None),
        Some(p) => Operator::try_from(p)
            .map(Some)
            .map_err(|e| corrupt(format!("stored operator {id} invalid: {e}"))),
    }
}

/// Reads an operator that must exist.
pub fn require<S: StateRead + ?Sized>(
    state: &S,
    id: &OperatorId,
) -> Result<Operator, RestakingError> {
    load(state, id)?.ok_or_else(|| RestakingError::UnknownOperator {
        operator: id.to_string(),
    })
}

/// The operator holding a consensus key, by the key's CometBFT address.
pub fn load_by_consensus_address<S: StateRead + ?Sized>(
    state: &S,
    addr: &ConsensusAddress,
) -> Result<Option<Operator>, RestakingError> {
    let Some(raw) = state.get_raw(state_key::operator_by_consensus(addr).as_bytes())? else {
        return Ok(None);
    };
    let id = OperatorId::from_slice(&raw, "index")
        .map_err(|_| corrupt("consensus-address index does not hold 32 bytes"))?;
    load(state, &id)?
        .ok_or_else(|| {
            corrupt(format!(
                "consensus-address index names missing operator {id}"
            ))
        })
        .map(Some)
}

/// Operators in id order, starting after `start_after`, at most `limit` of them; the second
/// value is the last id returned when more may follow.
pub fn page<S: StateRead + ?Sized>(
    state: &S,
    start_after: Option<&OperatorId>,
    limit: usize,
) -> Result<(Vec<Operator>, Option<OperatorId>), RestakingError> {
    let mut out = Vec::new();
    let mut more = false;
    for item in state.prefix_proto::<pb::Operator>(state_key::operators_prefix()) {
        let (k, p) = item?;
        let id = state_key::operator_from_key(&k)
            .ok_or_else(|| corrupt("operator key without an id"))?;
        if start_after.is_some_and(|s| id <= *s) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(Operator::try_from(p).map_err(|e| corrupt(format!("stored operator {id}: {e}")))?);
    }
    let next = if more { out.last().map(|o| o.id) } else { None };
    Ok((out, next))
}

/// Every operator owned by `owner`, in id order.
pub fn owned_by<S: StateRead + ?Sized>(
    state: &S,
    owner: &Address,
) -> Result<Vec<OperatorId>, RestakingError> {
    let mut out = Vec::new();
    for item in state.prefix_raw(state_key::operator_by_owner_prefix(owner).as_bytes()) {
        let (k, _) = item?;
        out.push(
            state_key::operator_from_key(&k)
                .ok_or_else(|| corrupt("owner index key without an operator id"))?,
        );
    }
    Ok(out)
}

fn save<S: StateWrite + ?Sized>(state: &mut S, op: &Operator) -> Result<(), RestakingError> {
    state.put_proto(state_key::operator(&op.id), &op.to_proto())?;
    Ok(())
}

/// Registers an operator at `height`: one per BTC key, and no consensus key shared. It starts
/// with no collateral and commission epoch = the current epoch.
pub fn register<S: StateWrite + ?Sized>(
    state: &mut S,
    reg: &OperatorRegistration,
    height: u64,
) -> Result<Operator, RestakingError> {
    if state
        .get_raw(state_key::operator(&reg.id).as_bytes())?
        .is_some()
    {
        return Err(RestakingError::OperatorExists {
            operator: reg.id.to_string(),
        });
    }
    if let Some(pk) = &reg.consensus_pubkey {
        if let Some(holder) = load_by_consensus_address(state, &consensus_key_address(pk))? {
            return Err(RestakingError::ConsensusKeyInUse {
                consensus_pubkey: hex::encode(pk),
                operator: holder.id.to_string(),
            });
        }
    }
    let epoch = power::current_epoch(state)?;
    let op = Operator {
        id: reg.id,
        owner: reg.owner,
        consensus_pubkey: reg.consensus_pubkey,
        commission: reg.commission,
        description: reg.description.clone(),
        jailed: false,
        registered_height: height,
        commission_epoch: epoch,
        commission_at_epoch_start: reg.commission,
    };
    save(state, &op)?;
    if let Some(addr) = op.consensus_address() {
        state.put_raw(
            state_key::operator_by_consensus(&addr).into_bytes(),
            op.id.to_bytes().to_vec(),
        )?;
    }
    state.put_raw(
        state_key::operator_by_owner(&op.owner, &op.id).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    power::init_operator(state, &op.id)?;
    rewards::init_operator(state, &op.id)?;
    state.emit_event(events::operator_registered(&op));
    Ok(op)
}

/// Edits an operator's commission and/or description. Only the owner may; the commission may
/// move at most `max_commission_change` away from its value at the start of the current epoch.
pub fn edit<S: StateWrite + ?Sized>(
    state: &mut S,
    sender: &Address,
    id: &OperatorId,
    commission: Option<Decimal>,
    description: Option<Description>,
) -> Result<Operator, RestakingError> {
    let mut op = require(state, id)?;
    if op.owner != *sender {
        return Err(RestakingError::NotOperatorOwner {
            operator: id.to_string(),
            owner: op.owner.to_string(),
            sender: sender.to_string(),
        });
    }
    if let Some(new) = commission {
        let p = params::load(state)?;
        let epoch = power::current_epoch(state)?;
        // The first change in an epoch measures from the commission in force when it started.
        let base = if op.commission_epoch == epoch {
            op.commission_at_epoch_start
        } else {
            op.commission
        };
        let distance = new.atomics().abs_diff(base.atomics());
        if distance > p.max_commission_change.atomics() {
            return Err(RestakingError::CommissionChangeTooLarge {
                operator: id.to_string(),
                epoch,
                at_epoch_start: base.to_string(),
                requested: new.to_string(),
                max_change: p.max_commission_change.to_string(),
            });
        }
        op.commission_epoch = epoch;
        op.commission_at_epoch_start = base;
        op.commission = new;
    }
    if let Some(d) = description {
        op.description = d;
    }
    save(state, &op)?;
    state.emit_event(events::operator_edited(&op));
    Ok(op)
}

/// Jails or unjails an operator (the hub set excludes jailed operators from the next epoch's
/// end). Returns whether anything changed. For slashing and governance code.
pub fn set_jailed<S: StateWrite + ?Sized>(
    state: &mut S,
    id: &OperatorId,
    jailed: bool,
) -> Result<bool, RestakingError> {
    let mut op = require(state, id)?;
    if op.jailed == jailed {
        return Ok(false);
    }
    op.jailed = jailed;
    save(state, &op)?;
    state.emit_event(events::operator_jailed(id, jailed));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballast_framework::{ErrorCode, MemState};

    #[test]
    fn ids_print_and_parse_as_hex() {
        let id = OperatorId::from_secret_key(&btc_sk(1));
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<OperatorId>().unwrap(), id);
        assert_eq!(s.to_uppercase().parse::<OperatorId>().unwrap(), id);
        for bad in ["", "zz", &"ab".repeat(31), &"ab".repeat(33)] {
            assert_eq!(bad.parse::<OperatorId>().unwrap_err().code(), 4, "{bad}");
        }
        assert!(OperatorId::parse_key(&[0xff; 32], "btc_pk").is_err());
        assert!(OperatorId::parse_key(&[1; 31], "btc_pk").is_err());
        assert_eq!(OperatorId::parse_key(id.as_bytes(), "btc_pk").unwrap(), id);
    }

    #[test]
    fn pop_binds_the_key_to_the_owner() {
        let sk = btc_sk(3);
        let id = OperatorId::from_secret_key(&sk);
        let owner = Address([9; 20]);
        let pop = sign_pop(&sk, &owner);
        verify_pop(&id, &owner, &pop).unwrap();
        // Plain BIP-340 over sha256(address bytes).
        let sig = schnorr::Signature::from_slice(&pop).unwrap();
        SECP256K1
            .verify_schnorr(
                &sig,
                &Message::from_digest(Sha256::digest([9u8; 20]).into()),
                &id.xonly().unwrap(),
            )
            .unwrap();
        assert_eq!(
            verify_pop(&id, &Address([8; 20]), &pop).unwrap_err().code(),
            5
        );
        let other = OperatorId::from_secret_key(&btc_sk(4));
        assert_eq!(verify_pop(&other, &owner, &pop).unwrap_err().code(), 5);
        assert_eq!(verify_pop(&id, &owner, &pop[..63]).unwrap_err().code(), 5);
    }

    #[test]
    fn descriptions_and_commissions_are_bounded() {
        let ok = pb::Description {
            moniker: "m".repeat(70),
            identity: "i".repeat(3000),
            website: "w".repeat(140),
            details: "d".repeat(280),
        };
        assert!(Description::try_from(ok.clone()).is_ok());
        for bad in [
            pb::Description {
                moniker: "m".repeat(71),
                ..ok.clone()
            },
            pb::Description {
                details: "d".repeat(281),
                ..ok.clone()
            },
            pb::Description {
                website: "w".repeat(141),
                ..ok.clone()
            },
            pb::Description {
                identity: "i".repeat(3001),
                ..ok.clone()
            },
            pb::Description {
                moniker: "  ".into(),
                ..ok.clone()
            },
        ] {
            assert_eq!(Description::try_from(bad).unwrap_err().code(), 8);
        }
        assert_eq!(parse_commission("1").unwrap(), Decimal::ONE);
        assert_eq!(parse_commission("0").unwrap(), Decimal::ZERO);
        for bad in ["1.000000000000000001", "-0.1", "", "0.1%", "2"] {
            assert_eq!(parse_commission(bad).unwrap_err().code(), 7, "{bad}");
        }
    }

    #[test]
    fn registration_rejects_duplicates_of_key_and_consensus_key() {
        let mut s = MemState::new();
        init(&mut s);
        let a = registration(1, Some(cons_pk(1)));
        let op = register(&mut s, &a, 5).unwrap();
        assert_eq!(op.registered_height, 5);
        assert_eq!(load(&s, &a.id).unwrap(), Some(op.clone()));
        assert_eq!(
            load_by_consensus_address(&s, &consensus_key_address(&cons_pk(1))).unwrap(),
            Some(op.clone())
        );
        assert_eq!(owned_by(&s, &a.owner).unwrap(), vec![a.id]);
        assert_eq!(register(&mut s, &a, 6).unwrap_err().code(), 10);
        let b = registration(2, Some(cons_pk(1)));
        assert_eq!(register(&mut s, &b, 6).unwrap_err().code(), 11);
        // Operators without a consensus key never collide on it.
        register(&mut s, &registration(3, None), 6).unwrap();
        register(&mut s, &registration(4, None), 6).unwrap();
        let (all, next) = page(&s, None, 2).unwrap();
        assert_eq!(all.len(), 2);
        let (rest, after) = page(&s, next.as_ref(), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(after, None);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "restaking.operator_registered"
                && e.get("operator") == Some(a.id.to_string().as_str())));
    }

    #[test]
    fn jailing_is_recorded_once() {
        let mut s = MemState::new();
        init(&mut s);
        let r = registration(1, Some(cons_pk(1)));
        register(&mut s, &r, 1).unwrap();
        assert!(set_jailed(&mut s, &r.id, true).unwrap());
        assert!(!set_jailed(&mut s, &r.id, true).unwrap());
        assert!(require(&s, &r.id).unwrap().jailed);
        let unknown = OperatorId::new([7; 32]);
        assert_eq!(set_jailed(&mut s, &unknown, true).unwrap_err().code(), 12);
    }
}
