//! The power table: each operator's collateral and the power it gives, the one entry point
//! every collateral change goes through ([`adjust_collateral`]), snapshots at epoch ends, and
//! [`PowerTableRead`], the read capability other modules use.
//!
//! `power = floor(ubal × native_power_weight) + floor(sat × btc_power_weight) +
//! floor(wei × eth_power_weight)`, on the operator's totals. The table is live: every change
//! moves it at once. The hub validator set follows it only at epoch ends.

use crate::error::corrupt;
use crate::operator::{self, Operator, OperatorId};
use crate::rewards::{self, Position};
use crate::valset::{self, HubValidator};
use crate::{events, params, state_key, Params, RestakingError};
use ballast_framework::{
    Address, ConsensusAddress, StateRead, StateReadExt, StateWrite, StateWriteExt,
};
use ballast_proto::ballast::restaking::v1 as pb;

/// The most total voting power CometBFT accepts (its `MaxTotalVotingPower`, `i64::MAX / 8`).
/// The live power of all operators together is kept at or below it, so that any hub set drawn
/// from it is valid.
pub const MAX_TOTAL_POWER: u64 = (i64::MAX / 8) as u64;

/// A change of one delegator's collateral with one operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollateralChange {
    /// ubal bonded.
    AddNative(u128),
    /// ubal unbonded.
    SubNative(u128),
    /// A BTC delegation of this many satoshis starts counting (ACTIVE).
    AddBtc(u64),
    /// A BTC delegation of this many satoshis stops counting.
    SubBtc(u64),
}

impl CollateralChange {
    fn is_zero(&self) -> bool {
        match *self {
            CollateralChange::AddNative(a) | CollateralChange::SubNative(a) => a == 0,
            CollateralChange::AddBtc(a) | CollateralChange::SubBtc(a) => a == 0,
        }
    }
}

/// What a collateral change did: the operator's power and the delegator's reward weight,
/// before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerChange {
    /// The operator.
    pub operator: OperatorId,
    /// The delegator.
    pub delegator: Address,
    /// The operator's power before.
    pub old_power: u64,
    /// The operator's power after.
    pub new_power: u64,
    /// The delegator's weight with the operator before.
    pub old_weight: u64,
    /// The delegator's weight with the operator after.
    pub new_weight: u64,
    /// Rewards settled into the position by this change (ubal).
    pub settled: u128,
}

/// An operator's collateral and power.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperatorPower {
    /// The operator.
    pub operator: OperatorId,
    /// Bonded ubal.
    pub native_ubal: u128,
    /// Satoshis in ACTIVE BTC delegations.
    pub btc_sat: u64,
    /// Proven restaked wei.
    pub eth_wei: u128,
    /// The power they give.
    pub power: u64,
}

impl OperatorPower {
    /// Whether it holds no collateral at all.
    pub fn is_empty(&self) -> bool {
        self.native_ubal == 0 && self.btc_sat == 0 && self.eth_wei == 0
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::OperatorPower {
        pb::OperatorPower {
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            native_ubal: self.native_ubal.to_string(),
            btc_sat: self.btc_sat,
            eth_wei: self.eth_wei.to_string(),
            power: self.power,
        }
    }
}

impl TryFrom<pb::OperatorPower> for OperatorPower {
    type Error = RestakingError;
    fn try_from(p: pb::OperatorPower) -> Result<Self, Self::Error> {
        Ok(OperatorPower {
            operator: OperatorId::from_slice(&p.operator_btc_pk, "operator_btc_pk")?,
            native_ubal: parse_amount("native_ubal", &p.native_ubal, true)?,
            btc_sat: p.btc_sat,
            eth_wei: parse_amount("eth_wei", &p.eth_wei, true)?,
            power: p.power,
        })
    }
}

/// The power table as it was at the end of an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerSnapshot {
    /// The epoch.
    pub epoch: u64,
    /// Operators with collateral, by power (descending) then id.
    pub powers: Vec<OperatorPower>,
    /// Sum of their power.
    pub total_power: u64,
}

/// Parses a base-10 unsigned amount; `allow_zero` for stored totals.
pub fn parse_amount(
    field: &'static str,
    s: &str,
    allow_zero: bool,
) -> Result<u128, RestakingError> {
    let bad = |reason| RestakingError::InvalidAmount {
        field,
        input: s.to_string(),
        reason,
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected a base-10 unsigned integer"));
    }
    let v: u128 = s.parse().map_err(|_| bad("does not fit in 128 bits"))?;
    if v == 0 && !allow_zero {
        return Err(bad("must be positive"));
    }
    Ok(v)
}

/// `floor(ubal × w_n) + floor(sat × w_b) + floor(wei × w_e)`.
pub fn compute_power(
    params: &Params,
    native_ubal: u128,
    btc_sat: u64,
    eth_wei: u128,
) -> Result<u64, RestakingError> {
    let overflow = || {
        RestakingError::PowerOverflow(format!(
            "power of {native_ubal} ubal, {btc_sat} sat and {eth_wei} wei does not fit in 64 bits"
        ))
    };
    let n = params
        .native_power_weight
        .mul_int_floor(native_ubal)
        .map_err(|_| overflow())?;
    let b = params
        .btc_power_weight
        .mul_int_floor(u128::from(btc_sat))
        .map_err(|_| overflow())?;
    let e = params
        .eth_power_weight
        .mul_int_floor(eth_wei)
        .map_err(|_| overflow())?;
    let sum = n
        .checked_add(b)
        .and_then(|x| x.checked_add(e))
        .ok_or_else(overflow)?;
    u64::try_from(sum).map_err(|_| overflow())
}

pub(crate) fn read_u64<S: StateRead + ?Sized>(
    state: &S,
    key: &str,
) -> Result<Option<u64>, RestakingError> {
    match state.get_raw(key.as_bytes())? {
        None => Ok(None),
        Some(b) => {
            let arr: [u8; 8] = b
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(format!("{key} does not hold 8 bytes")))?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

pub(crate) fn write_u64<S: StateWrite + ?Sized>(
    state: &mut S,
    key: &str,
    v: u64,
) -> Result<(), RestakingError> {
    state.put_raw(key.as_bytes().to_vec(), v.to_be_bytes().to_vec())?;
    Ok(())
}

pub(crate) fn read_u128<S: StateRead + ?Sized>(
    state: &S,
    key: &str,
) -> Result<u128, RestakingError> {
    match state.get_raw(key.as_bytes())? {
        None => Ok(0),
        Some(b) => {
            let arr: [u8; 16] = b
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(format!("{key} does not hold 16 bytes")))?;
            Ok(u128::from_be_bytes(arr))
        }
    }
}

pub(crate) fn write_u128<S: StateWrite + ?Sized>(
    state: &mut S,
    key: &str,
    v: u128,
) -> Result<(), RestakingError> {
    state.put_raw(key.as_bytes().to_vec(), v.to_be_bytes().to_vec())?;
    Ok(())
}

/// The epoch in progress: one after the last epoch whose end the module ran (1 at genesis).
pub fn current_epoch<S: StateRead + ?Sized>(state: &S) -> Result<u64, RestakingError> {
    let last = read_u64(state, state_key::last_ended_epoch())?.unwrap_or(0);
    last.checked_add(1)
        .ok_or_else(|| corrupt("last ended epoch is u64::MAX"))
}

/// Records that `epoch` ended; it must be the current epoch.
pub(crate) fn set_epoch_ended<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
) -> Result<(), RestakingError> {
    let expected = current_epoch(state)?;
    if epoch != expected {
        return Err(RestakingError::EpochMismatch {
            expected,
            found: epoch,
        });
    }
    write_u64(state, state_key::last_ended_epoch(), epoch)
}

/// An operator's live power record.
pub fn load_power<S: StateRead + ?Sized>(
    state: &S,
    id: &OperatorId,
) -> Result<Option<OperatorPower>, RestakingError> {
    match state.get_proto::<pb::OperatorPower>(state_key::power(id))? {
        None => Ok(None),
        Some(p) => OperatorPower::try_from(p)
            .map(Some)
            .map_err(|e| corrupt(format!("stored power of {id}: {e}"))),
    }
}

fn save_power<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &OperatorPower,
) -> Result<(), RestakingError> {
    state.put_proto(state_key::power(&p.operator), &p.to_proto())?;
    Ok(())
}

/// Writes a new operator's empty power record.
pub(crate) fn init_operator<S: StateWrite + ?Sized>(
    state: &mut S,
    id: &OperatorId,
) -> Result<(), RestakingError> {
    save_power(
        state,
        &OperatorPower {
            operator: *id,
            ..OperatorPower::default()
        },
    )
}

fn sort_by_power(list: &mut [OperatorPower]) {
    list.sort_by(|a, b| b.power.cmp(&a.power).then(a.operator.cmp(&b.operator)));
}

/// The live power table: every registered operator, by power (descending) then id.
pub fn power_table<S: StateRead + ?Sized>(state: &S) -> Result<Vec<OperatorPower>, RestakingError> {
    let mut out = Vec::new();
    for item in state.prefix_proto::<pb::OperatorPower>(state_key::power_prefix()) {
        let (k, p) = item?;
        out.push(OperatorPower::try_from(p).map_err(|e| {
            corrupt(format!(
                "stored power under {}: {e}",
                String::from_utf8_lossy(&k)
            ))
        })?);
    }
    sort_by_power(&mut out);
    Ok(out)
}

/// Sum of every operator's live power.
pub fn total_power<S: StateRead + ?Sized>(state: &S) -> Result<u64, RestakingError> {
    Ok(read_u64(state, state_key::total_power())?.unwrap_or(0))
}

/// Copies the live table (operators holding collateral) as the snapshot of `epoch`.
pub fn snapshot_power<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
) -> Result<PowerSnapshot, RestakingError> {
    let powers: Vec<OperatorPower> = power_table(state)?
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    let mut total: u64 = 0;
    for p in &powers {
        total = total
            .checked_add(p.power)
            .ok_or_else(|| corrupt("snapshot power overflows u64"))?;
        state.put_proto(state_key::snapshot(epoch, &p.operator), &p.to_proto())?;
    }
    state.put_proto(
        state_key::snapshot_info(epoch),
        &pb::PowerSnapshotInfo {
            epoch,
            total_power: total,
            operators: powers.len() as u64,
        },
    )?;
    state.emit_event(events::power_snapshot(epoch, powers.len(), total));
    Ok(PowerSnapshot {
        epoch,
        powers,
        total_power: total,
    })
}

/// The snapshot taken at the end of `epoch`, if it was.
pub fn load_snapshot<S: StateRead + ?Sized>(
    state: &S,
    epoch: u64,
) -> Result<Option<PowerSnapshot>, RestakingError> {
    let Some(info) = state.get_proto::<pb::PowerSnapshotInfo>(state_key::snapshot_info(epoch))?
    else {
        return Ok(None);
    };
    let mut powers = Vec::new();
    for item in state.prefix_proto::<pb::OperatorPower>(state_key::snapshot_prefix(epoch)) {
        let (_, p) = item?;
        powers.push(
            OperatorPower::try_from(p)
                .map_err(|e| corrupt(format!("snapshot of epoch {epoch}: {e}")))?,
        );
    }
    sort_by_power(&mut powers);
    Ok(Some(PowerSnapshot {
        epoch,
        powers,
        total_power: info.total_power,
    }))
}

/// Applies one collateral change of `delegator` with `operator`: the delegator's rewards are
/// settled at its old weight first, then its collateral and weight, the operator's collateral
/// and power, and the total power move together. Every collateral change goes through here
/// (native bonds, BTC delegations becoming ACTIVE or ceasing to count).
///
/// Fails without writing when the operator is unknown, the amount is zero, more is removed than
/// the position holds, or the total power would pass [`MAX_TOTAL_POWER`].
pub fn adjust_collateral(
    state: &mut (impl StateWrite + ?Sized),
    operator: &OperatorId,
    delegator: &Address,
    change: CollateralChange,
) -> Result<PowerChange, RestakingError> {
    if change.is_zero() {
        return Err(RestakingError::InvalidAmount {
            field: "amount",
            input: "0".into(),
            reason: "must be positive",
        });
    }
    let params = params::load(state)?;
    operator::require(state, operator)?;
    let mut op = load_power(state, operator)?
        .ok_or_else(|| corrupt(format!("operator {operator} has no power record")))?;
    let mut pos = rewards::load_position(state, delegator, operator)?
        .unwrap_or_else(|| Position::new(*delegator, *operator));
    let mut acct = rewards::load_operator_rewards(state, operator)?;
    let settled = rewards::settle(&mut pos, &mut acct)?;

    let insufficient = |unit: &'static str, held: String, requested: String| {
        RestakingError::InsufficientCollateral {
            delegator: delegator.to_string(),
            operator: operator.to_string(),
            unit,
            held,
            requested,
        }
    };
    let overflow = |what: &str| {
        RestakingError::AmountOverflow(format!(
            "{what} of operator {operator} would pass its integer range"
        ))
    };
    let underflow = || {
        corrupt(format!(
            "operator {operator} holds less than one of its positions"
        ))
    };
    match change {
        CollateralChange::AddNative(a) => {
            pos.native_ubal = pos
                .native_ubal
                .checked_add(a)
                .ok_or_else(|| overflow("native ubal"))?;
            op.native_ubal = op
                .native_ubal
                .checked_add(a)
                .ok_or_else(|| overflow("native ubal"))?;
        }
        CollateralChange::SubNative(a) => {
            pos.native_ubal = pos
                .native_ubal
                .checked_sub(a)
                .ok_or_else(|| insufficient("ubal", pos.native_ubal.to_string(), a.to_string()))?;
            op.native_ubal = op.native_ubal.checked_sub(a).ok_or_else(underflow)?;
        }
        CollateralChange::AddBtc(a) => {
            pos.btc_sat = pos
                .btc_sat
                .checked_add(a)
                .ok_or_else(|| overflow("btc sat"))?;
            op.btc_sat = op
                .btc_sat
                .checked_add(a)
                .ok_or_else(|| overflow("btc sat"))?;
        }
        CollateralChange::SubBtc(a) => {
            pos.btc_sat = pos
                .btc_sat
                .checked_sub(a)
                .ok_or_else(|| insufficient("sat", pos.btc_sat.to_string(), a.to_string()))?;
            op.btc_sat = op.btc_sat.checked_sub(a).ok_or_else(underflow)?;
        }
    }

    let old_weight = pos.weight;
    let new_weight = compute_power(&params, pos.native_ubal, pos.btc_sat, pos.eth_wei)?;
    let old_power = op.power;
    let new_power = compute_power(&params, op.native_ubal, op.btc_sat, op.eth_wei)?;
    let total = total_power(state)?;
    let new_total = total
        .checked_sub(old_power)
        .ok_or_else(|| corrupt("total power below an operator's power"))?
        .checked_add(new_power)
        .filter(|t| *t <= MAX_TOTAL_POWER)
        .ok_or_else(|| {
            RestakingError::PowerOverflow(format!(
                "total power would pass CometBFT's limit {MAX_TOTAL_POWER} (operator {operator} to {new_power})"
            ))
        })?;
    acct.total_weight = acct
        .total_weight
        .checked_sub(old_weight)
        .ok_or_else(|| {
            corrupt(format!(
                "total weight of {operator} below a position's weight"
            ))
        })?
        .checked_add(new_weight)
        .ok_or_else(|| corrupt(format!("total weight of {operator} overflows")))?;
    pos.weight = new_weight;
    op.power = new_power;

    rewards::save_position(state, &pos)?;
    rewards::save_operator_rewards(state, &acct)?;
    save_power(state, &op)?;
    write_u64(state, state_key::total_power(), new_total)?;
    let out = PowerChange {
        operator: *operator,
        delegator: *delegator,
        old_power,
        new_power,
        old_weight,
        new_weight,
        settled,
    };
    state.emit_event(events::power_changed(&out, &change, &op));
    Ok(out)
}

/// Read access to operators, power and the hub set, for every state. Other modules read
/// restaking through this and never through raw keys.
pub trait PowerTableRead: StateRead {
    /// The params.
    fn restaking_params(&self) -> Result<Params, RestakingError> {
        params::load(self)
    }

    /// An operator.
    fn operator(&self, id: &OperatorId) -> Result<Option<Operator>, RestakingError> {
        operator::load(self, id)
    }

    /// The operator whose consensus key has this CometBFT address.
    fn operator_by_consensus_address(
        &self,
        addr: &ConsensusAddress,
    ) -> Result<Option<Operator>, RestakingError> {
        operator::load_by_consensus_address(self, addr)
    }

    /// An operator's live collateral and power (`None` for an unknown operator).
    fn operator_power(&self, id: &OperatorId) -> Result<Option<OperatorPower>, RestakingError> {
        load_power(self, id)
    }

    /// Every operator's live power, by power (descending) then id.
    fn power_table(&self) -> Result<Vec<OperatorPower>, RestakingError> {
        power_table(self)
    }

    /// Sum of the live power.
    fn total_power(&self) -> Result<u64, RestakingError> {
        total_power(self)
    }

    /// The power table snapshotted at the end of `epoch`.
    fn power_snapshot(&self, epoch: u64) -> Result<Option<PowerSnapshot>, RestakingError> {
        load_snapshot(self, epoch)
    }

    /// The hub validator set in force, in checkpoint-bitmap order: power (descending), then
    /// consensus address (ascending).
    fn hub_validators(&self) -> Result<Vec<HubValidator>, RestakingError> {
        Ok(valset::load_set(self)?.1)
    }

    /// The epoch in progress (1 at genesis).
    fn current_epoch(&self) -> Result<u64, RestakingError> {
        current_epoch(self)
    }

    /// A delegator's position with an operator.
    fn position(
        &self,
        delegator: &Address,
        operator: &OperatorId,
    ) -> Result<Option<Position>, RestakingError> {
        rewards::load_position(self, delegator, operator)
    }

    /// Every position of a delegator, in operator order.
    fn positions(&self, delegator: &Address) -> Result<Vec<Position>, RestakingError> {
        rewards::positions_of(self, delegator)
    }
}

impl<T: StateRead + ?Sized> PowerTableRead for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballast_framework::{ErrorCode, MemState};

    #[test]
    fn power_sums_floored_weighted_collateral() {
        let p = Params::default();
        assert_eq!(compute_power(&p, 100_000_000, 0, 0).unwrap(), 100);
        assert_eq!(compute_power(&p, 1_999_999, 0, 0).unwrap(), 1);
        assert_eq!(compute_power(&p, 0, 19_999, 0).unwrap(), 1);
        assert_eq!(
            compute_power(&p, 1_500_000, 25_000, 3_000_000_000_000).unwrap(),
            1 + 2 + 3
        );
        assert_eq!(compute_power(&p, u128::MAX, 0, 0).unwrap_err().code(), 16);
    }

    #[test]
    fn adjust_collateral_moves_position_operator_and_total_together() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let (alice, bob) = (Address([1; 20]), Address([2; 20]));
        let c =
            adjust_collateral(&mut s, &op, &alice, CollateralChange::AddNative(5_500_000)).unwrap();
        assert_eq!(
            (c.old_power, c.new_power, c.old_weight, c.new_weight),
            (0, 5, 0, 5)
        );
        adjust_collateral(&mut s, &op, &bob, CollateralChange::AddNative(500_000)).unwrap();
        // 6 BAL in total: the operator has power 6 although bob's own weight is 0.
        assert_eq!(s.operator_power(&op).unwrap().unwrap().power, 6);
        assert_eq!(s.position(&bob, &op).unwrap().unwrap().weight, 0);
        let c = adjust_collateral(&mut s, &op, &bob, CollateralChange::AddBtc(30_000)).unwrap();
        assert_eq!((c.new_power, c.new_weight), (9, 3));
        assert_eq!(s.total_power().unwrap(), 9);
        let c = adjust_collateral(&mut s, &op, &bob, CollateralChange::SubBtc(30_000)).unwrap();
        assert_eq!((c.old_power, c.new_power), (9, 6));
        assert_eq!(
            adjust_collateral(&mut s, &op, &bob, CollateralChange::SubBtc(1))
                .unwrap_err()
                .code(),
            15
        );
        assert_eq!(
            adjust_collateral(&mut s, &op, &bob, CollateralChange::SubNative(500_001))
                .unwrap_err()
                .code(),
            15
        );
        assert_eq!(
            adjust_collateral(&mut s, &op, &bob, CollateralChange::AddNative(0))
                .unwrap_err()
                .code(),
            9
        );
        let unknown = OperatorId::new([3; 32]);
        assert_eq!(
            adjust_collateral(&mut s, &unknown, &bob, CollateralChange::AddBtc(1))
                .unwrap_err()
                .code(),
            12
        );
        adjust_collateral(&mut s, &op, &bob, CollateralChange::SubNative(500_000)).unwrap();
        // An empty position without rewards is removed.
        assert_eq!(s.position(&bob, &op).unwrap(), None);
        assert_eq!(s.total_power().unwrap(), 5);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "restaking.power_changed"));
    }

    #[test]
    fn total_power_is_capped_at_cometbfts_limit() {
        let mut s = MemState::new();
        let p = Params {
            native_power_weight: ballast_framework::Decimal::ONE,
            ..Params::default()
        };
        init_with(&mut s, p);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let a = Address([1; 20]);
        adjust_collateral(
            &mut s,
            &op,
            &a,
            CollateralChange::AddNative(MAX_TOTAL_POWER as u128),
        )
        .unwrap();
        let before = s.entries().clone();
        let e = adjust_collateral(&mut s, &op, &a, CollateralChange::AddNative(1)).unwrap_err();
        assert_eq!(e.code(), 16);
        assert_eq!(s.entries(), &before);
    }

    #[test]
    fn snapshots_keep_the_table_as_it_was() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, Some(cons_pk(1)));
        let b = register_op(&mut s, 2, None);
        register_op(&mut s, 3, None);
        let d = Address([1; 20]);
        adjust_collateral(&mut s, &a, &d, CollateralChange::AddNative(2_000_000)).unwrap();
        adjust_collateral(&mut s, &b, &d, CollateralChange::AddBtc(70_000)).unwrap();
        let snap = snapshot_power(&mut s, 1).unwrap();
        assert_eq!(snap.total_power, 9);
        assert_eq!(
            snap.powers
                .iter()
                .map(|p| (p.operator, p.power))
                .collect::<Vec<_>>(),
            vec![(b, 7), (a, 2)]
        );
        adjust_collateral(&mut s, &b, &d, CollateralChange::SubBtc(70_000)).unwrap();
        assert_eq!(s.power_snapshot(1).unwrap(), Some(snap));
        assert_eq!(s.power_snapshot(2).unwrap(), None);
        // The live table lists every operator, the empty ones last.
        let table = s.power_table().unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].operator, a);
    }

    #[test]
    fn epochs_end_in_order() {
        let mut s = MemState::new();
        assert_eq!(current_epoch(&s).unwrap(), 1);
        set_epoch_ended(&mut s, 1).unwrap();
        assert_eq!(current_epoch(&s).unwrap(), 2);
        let e = set_epoch_ended(&mut s, 3).unwrap_err();
        assert_eq!(e.code(), 19);
        assert!(e.is_fatal());
    }
}
