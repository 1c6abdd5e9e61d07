//! Consumers: ids, terms, statuses, and their records.
//!
//! A consumer's id is its chain id ([`ConsumerId`]). Its record holds the owner, the terms the
//! owner may change, the allocation mode (fixed at registration), the status, the lease balance
//! and the bookkeeping of its epoch-end processing. ACTIVE consumers, and REGISTERED ones whose
//! lease covers their fee, are listed in the live index ([`state_key::live`]), which the
//! epoch-end run walks ([`Consumer::is_live_indexed`]).

use crate::error::corrupt;
use crate::params::{parse_u128, Params};
use crate::{state_key, ConsumersError};
use ballast_framework::{Address, Decimal, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::consumers::v1 as pb;
use std::fmt;

/// Longest consumer id (a chain id).
pub const MAX_CONSUMER_ID_LEN: usize = 50;
/// Longest consumer name.
pub const MAX_NAME_LEN: usize = 70;

/// A consumer's id: its chain id, 1 to 50 characters of `[a-zA-Z0-9._-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerId(String);

impl ConsumerId {
    /// Checks a consumer id.
    pub fn parse(s: &str) -> Result<Self, ConsumersError> {
        let bad = |reason: String| ConsumersError::InvalidConsumerId {
            input: s.chars().take(MAX_CONSUMER_ID_LEN + 10).collect(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("it is empty".into()));
        }
        if s.len() > MAX_CONSUMER_ID_LEN {
            return Err(bad(format!("found {} bytes", s.len())));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(bad(format!("character {c:?} is not allowed")));
        }
        Ok(ConsumerId(s.to_string()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsumerId({:?})", self.0)
    }
}

/// How an operator's stake allocated to a consumer may be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocationMode {
    /// Never reused: an operator with an allocation to an isolated consumer has at most 100%
    /// allocated in total.
    Isolated,
    /// Reused up to `max_reuse_ratio`.
    Shared,
}

impl AllocationMode {
    /// From the proto enum value.
    pub fn from_i32(v: i32) -> Result<Self, ConsumersError> {
        match pb::AllocationMode::try_from(v) {
            Ok(pb::AllocationMode::Isolated) => Ok(AllocationMode::Isolated),
            Ok(pb::AllocationMode::Shared) => Ok(AllocationMode::Shared),
            _ => Err(ConsumersError::InvalidAllocationMode(v)),
        }
    }

    /// The proto enum value.
    pub fn to_i32(self) -> i32 {
        match self {
            AllocationMode::Isolated => pb::AllocationMode::Isolated as i32,
            AllocationMode::Shared => pb::AllocationMode::Shared as i32,
        }
    }
}

/// A consumer's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waits for a funded lease and `min_operators` operators with power.
    Registered,
    /// Its set is maintained and its lease drawn every epoch.
    Active,
    /// Final.
    Stopped(StopReason),
}

/// Why a consumer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The lease held less than `fee_per_epoch` at an epoch end.
    LeaseExhausted,
    /// The owner removed it.
    Removed,
}

impl Status {
    fn to_proto(self) -> (i32, i32) {
        match self {
            Status::Registered => (
                pb::ConsumerStatus::Registered as i32,
                pb::StopReason::Unspecified as i32,
            ),
            Status::Active => (
                pb::ConsumerStatus::Active as i32,
                pb::StopReason::Unspecified as i32,
            ),
            Status::Stopped(r) => (
                pb::ConsumerStatus::Stopped as i32,
                match r {
                    StopReason::LeaseExhausted => pb::StopReason::LeaseExhausted as i32,
                    StopReason::Removed => pb::StopReason::Removed as i32,
                },
            ),
        }
    }

    fn from_proto(status: i32, reason: i32) -> Result<Self, String> {
        match (
            pb::ConsumerStatus::try_from(status),
            pb::StopReason::try_from(reason),
        ) {
            (Ok(pb::ConsumerStatus::Registered), _) => Ok(Status::Registered),
            (Ok(pb::ConsumerStatus::Active), _) => Ok(Status::Active),
            (Ok(pb::ConsumerStatus::Stopped), Ok(pb::StopReason::LeaseExhausted)) => {
                Ok(Status::Stopped(StopReason::LeaseExhausted))
            }
            (Ok(pb::ConsumerStatus::Stopped), Ok(pb::StopReason::Removed)) => {
                Ok(Status::Stopped(StopReason::Removed))
            }
            _ => Err(format!("status {status} with stop reason {reason}")),
        }
    }

    /// Whether it is STOPPED.
    pub fn is_stopped(self) -> bool {
        matches!(self, Status::Stopped(_))
    }
}

/// The terms a consumer sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Display name (1 to 70 bytes).
    pub name: String,
    /// ubal drawn from the lease at every epoch end while ACTIVE.
    pub fee_per_epoch: u128,
    /// Operators with power needed to become ACTIVE (1 to `max_operators`).
    pub min_operators: u32,
    /// Most operators in its set (1 to `max_operators_cap`).
    pub max_operators: u32,
    /// Share of the allocated stake a double sign on it slashes (0 to 1).
    pub double_sign_slash_fraction: Decimal,
    /// Epochs an operator is jailed on the hub after a double sign on it.
    pub jail_epochs: u64,
}

impl Terms {
    /// Parses the proto form, checking each field's format (not the params' bounds).
    pub fn parse(p: &pb::ConsumerTerms) -> Result<Self, ConsumersError> {
        Ok(Terms {
            name: p.name.clone(),
            fee_per_epoch: parse_fee(&p.fee_per_epoch)?,
            min_operators: p.min_operators,
            max_operators: p.max_operators,
            double_sign_slash_fraction: parse_fraction(&p.double_sign_slash_fraction)?,
            jail_epochs: p.jail_epochs,
        })
    }

    /// Checks the terms against the rules and the params: a name of 1 to 70 bytes,
    /// `fee_per_epoch >= min_fee_per_epoch`, `1 <= max_operators <= max_operators_cap`,
    /// `1 <= min_operators <= max_operators`, a slash fraction from 0 to 1.
    pub fn validate(&self, params: &Params) -> Result<(), ConsumersError> {
        let bad = |m: String| Err(ConsumersError::InvalidTerms(m));
        if self.name.trim().is_empty() || self.name.len() > MAX_NAME_LEN {
            return bad(format!(
                "name must hold 1 to {MAX_NAME_LEN} bytes (not only spaces), found {}",
                self.name.len()
            ));
        }
        if self.fee_per_epoch < params.min_fee_per_epoch {
            return bad(format!(
                "fee_per_epoch {} is below min_fee_per_epoch {}",
                self.fee_per_epoch, params.min_fee_per_epoch
            ));
        }
        if self.max_operators == 0 || self.max_operators > params.max_operators_cap {
            return bad(format!(
                "max_operators must be between 1 and max_operators_cap {}, found {}",
                params.max_operators_cap, self.max_operators
            ));
        }
        if self.min_operators == 0 || self.min_operators > self.max_operators {
            return bad(format!(
                "min_operators must be between 1 and max_operators {}, found {}",
                self.max_operators, self.min_operators
            ));
        }
        if self.double_sign_slash_fraction > Decimal::ONE {
            return bad(format!(
                "double_sign_slash_fraction must be between 0 and 1, found {}",
                self.double_sign_slash_fraction
            ));
        }
        Ok(())
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::ConsumerTerms {
        pb::ConsumerTerms {
            name: self.name.clone(),
            fee_per_epoch: self.fee_per_epoch.to_string(),
            min_operators: self.min_operators,
            max_operators: self.max_operators,
            double_sign_slash_fraction: self.double_sign_slash_fraction.to_string(),
            jail_epochs: self.jail_epochs,
        }
    }
}

/// Parses a fee: a base-10 ubal amount (bounds are checked against the params).
pub fn parse_fee(s: &str) -> Result<u128, ConsumersError> {
    parse_u128(s)
        .map_err(|reason| ConsumersError::InvalidTerms(format!("fee_per_epoch {s:?}: {reason}")))
}

/// Parses a slash fraction: a decimal from 0 to 1.
pub fn parse_fraction(s: &str) -> Result<Decimal, ConsumersError> {
    let d: Decimal = s
        .parse()
        .map_err(|e| ConsumersError::InvalidTerms(format!("double_sign_slash_fraction: {e}")))?;
    if d > Decimal::ONE {
        return Err(ConsumersError::InvalidTerms(format!(
            "double_sign_slash_fraction must be between 0 and 1, found {d}"
        )));
    }
    Ok(d)
}

/// Parses a positive ubal amount of a message field.
pub fn parse_amount(field: &'static str, s: &str) -> Result<u128, ConsumersError> {
    let v = parse_u128(s).map_err(|reason| ConsumersError::InvalidAmount {
        field,
        input: s.chars().take(80).collect(),
        reason,
    })?;
    if v == 0 {
        return Err(ConsumersError::InvalidAmount {
            field,
            input: s.to_string(),
            reason: "must be positive",
        });
    }
    Ok(v)
}

/// A registered consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    /// Its id.
    pub id: ConsumerId,
    /// The account that may update and remove it.
    pub owner: Address,
    /// Its terms.
    pub terms: Terms,
    /// Fixed at registration.
    pub mode: AllocationMode,
    /// Its status.
    pub status: Status,
    /// ubal left in the lease.
    pub lease_balance: u128,
    /// Hub height of registration.
    pub registered_height: u64,
    /// Restaking epoch of registration.
    pub registered_epoch: u64,
    /// Epoch at whose end it became ACTIVE (0 while REGISTERED).
    pub activated_epoch: u64,
    /// Hub height of the stop (0 unless STOPPED).
    pub stopped_height: u64,
    /// update_id of its last update (0: none yet).
    pub last_update_id: u64,
    /// Last epoch whose end was processed for it (0: none yet).
    pub last_processed_epoch: u64,
    /// ubal paid to operators so far.
    pub total_paid: u128,
    /// Opt-in records stored for it.
    pub opt_in_count: u64,
}

impl Consumer {
    /// The proto form.
    pub fn to_proto(&self) -> pb::Consumer {
        let (status, stop_reason) = self.status.to_proto();
        pb::Consumer {
            consumer_id: self.id.to_string(),
            owner: self.owner.to_string(),
            terms: Some(self.terms.to_proto()),
            allocation_mode: self.mode.to_i32(),
            status,
            lease_balance: self.lease_balance.to_string(),
            registered_height: self.registered_height,
            registered_epoch: self.registered_epoch,
            activated_epoch: self.activated_epoch,
            stopped_height: self.stopped_height,
            stop_reason,
            last_update_id: self.last_update_id,
            last_processed_epoch: self.last_processed_epoch,
            total_paid: self.total_paid.to_string(),
            opt_in_count: self.opt_in_count,
        }
    }

    /// Whether the epoch-end run walks it (the live index holds it): ACTIVE, or REGISTERED with
    /// a lease that covers `fee_per_epoch`. An unfunded registration costs the runs nothing,
    /// so registering many consumers cannot make epoch ends slow; funding one enters it. An
    /// ACTIVE consumer stays in even below its fee, so that its next processing stops it.
    pub fn is_live_indexed(&self) -> bool {
        match self.status {
            Status::Active => true,
            Status::Registered => self.lease_balance >= self.terms.fee_per_epoch,
            Status::Stopped(_) => false,
        }
    }

    /// Returns an error if it is STOPPED.
    pub fn require_live(&self) -> Result<(), ConsumersError> {
        if self.status.is_stopped() {
            return Err(ConsumersError::ConsumerStopped(self.id.to_string()));
        }
        Ok(())
    }

    /// Returns an error unless `sender` owns it.
    pub fn require_owner(&self, sender: &Address) -> Result<(), ConsumersError> {
        if self.owner != *sender {
            return Err(ConsumersError::NotConsumerOwner {
                consumer_id: self.id.to_string(),
                owner: self.owner.to_string(),
                sender: sender.to_string(),
            });
        }
        Ok(())
    }
}

impl TryFrom<pb::Consumer> for Consumer {
    type Error = ConsumersError;
    /// Parses a stored record (formats only: the terms were checked when they were set).
    fn try_from(p: pb::Consumer) -> Result<Self, Self::Error> {
        let amount = |field: &'static str, s: &str| {
            parse_u128(s).map_err(|reason| ConsumersError::InvalidAmount {
                field,
                input: s.to_string(),
                reason,
            })
        };
        Ok(Consumer {
            id: ConsumerId::parse(&p.consumer_id)?,
            owner: p
                .owner
                .parse()
                .map_err(|source| ConsumersError::InvalidAddress {
                    field: "owner",
                    source,
                })?,
            terms: Terms::parse(&p.terms.unwrap_or_default())?,
            mode: AllocationMode::from_i32(p.allocation_mode)?,
            status: Status::from_proto(p.status, p.stop_reason)
                .map_err(|e| corrupt(format!("consumer {:?}: {e}", p.consumer_id)))?,
            lease_balance: amount("lease_balance", &p.lease_balance)?,
            registered_height: p.registered_height,
            registered_epoch: p.registered_epoch,
            activated_epoch: p.activated_epoch,
            stopped_height: p.stopped_height,
            last_update_id: p.last_update_id,
            last_processed_epoch: p.last_processed_epoch,
            total_paid: amount("total_paid", &p.total_paid)?,
            opt_in_count: p.opt_in_count,
        })
    }
}

/// Reads a consumer.
pub fn load<S: StateRead + ?Sized>(
    state: &S,
    id: &ConsumerId,
) -> Result<Option<Consumer>, ConsumersError> {
    match state.get_proto::<pb::Consumer>(state_key::consumer(id.as_str()))? {
        None => Ok(None),
        Some(p) => Consumer::try_from(p)
            .map(Some)
            .map_err(|e| corrupt(format!("stored consumer {id}: {e}"))),
    }
}

/// Reads a consumer that must exist.
pub fn require<S: StateRead + ?Sized>(
    state: &S,
    id: &ConsumerId,
) -> Result<Consumer, ConsumersError> {
    load(state, id)?.ok_or_else(|| ConsumersError::UnknownConsumer(id.to_string()))
}

/// Writes a consumer and keeps the live index in step with its status and lease
/// ([`Consumer::is_live_indexed`]).
pub fn save<S: StateWrite + ?Sized>(state: &mut S, c: &Consumer) -> Result<(), ConsumersError> {
    state.put_proto(state_key::consumer(c.id.as_str()), &c.to_proto())?;
    let live = state_key::live(c.id.as_str()).into_bytes();
    if c.is_live_indexed() {
        state.put_raw(live, ballast_framework::INDEX_MARKER.to_vec())?;
    } else {
        state.delete(live)?;
    }
    Ok(())
}

/// The characters of a consumer id, in ascending byte order.
const ID_CHARS: &[u8] = b"-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Up to `limit` live consumer ids after `after` (exclusive; `None`: from the first), in id
/// order.
///
/// State offers prefix walks only, so the walk seeks instead of skipping every id up to the
/// cursor: first the ids that extend `after`, then for each position of `after` from the last
/// to the first, the prefixes `after[..i] + c` for each id character `c` above `after[i]`, in
/// order. The cost is at most 50 × 65 prefix seeks plus the ids returned, however many
/// consumers there are.
pub fn live_after<S: StateRead + ?Sized>(
    state: &S,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ConsumerId>, ConsumersError> {
    let base = state_key::live_prefix();
    let mut out = Vec::new();
    // Appends the live ids under `base + prefix` (but `skip`); returns whether `out` is full.
    let mut collect = |prefix: &str, skip: Option<&str>| -> Result<bool, ConsumersError> {
        for item in state.prefix_raw(format!("{base}{prefix}").as_bytes()) {
            if out.len() >= limit {
                return Ok(true);
            }
            let (k, _) = item?;
            let id = std::str::from_utf8(&k[base.len()..])
                .map_err(|_| corrupt("live index key is not utf-8"))?;
            if skip == Some(id) {
                continue;
            }
            out.push(ConsumerId::parse(id).map_err(|e| corrupt(format!("live index entry: {e}")))?);
        }
        Ok(out.len() >= limit)
    };
    match after {
        None => {
            collect("", None)?;
        }
        Some(a) => {
            let a = ConsumerId::parse(a)?;
            let a = a.as_str();
            if !collect(a, Some(a))? {
                'levels: for i in (0..a.len()).rev() {
                    let at = a.as_bytes()[i];
                    for &c in ID_CHARS.iter().filter(|&&c| c > at) {
                        let prefix = format!("{}{}", &a[..i], char::from(c));
                        if collect(&prefix, None)? {
                            break 'levels;
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::{ErrorCode, MemState, StateWrite};

    proptest::proptest! {
        /// The seeking walk returns exactly what skipping every id up to the cursor returns.
        #[test]
        fn live_after_seeks_like_a_full_walk(
            ids in proptest::collection::btree_set("[-._0-9A-Za-z]{1,6}", 0..40),
            cursor in "[-._0-9A-Za-z]{1,6}",
            limit in 1usize..50,
        ) {
            let mut s = MemState::new();
            for id in &ids {
                s.put_raw(state_key::live(id).into_bytes(), Vec::new()).unwrap();
            }
            let naive: Vec<String> = ids
                .iter()
                .filter(|id| id.as_str() > cursor.as_str())
                .take(limit)
                .cloned()
                .collect();
            let got: Vec<String> = live_after(&s, Some(&cursor), limit)
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            proptest::prop_assert_eq!(got, naive);
            let first: Vec<String> = live_after(&s, None, limit)
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            proptest::prop_assert_eq!(first, ids.iter().take(limit).cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn consumer_ids_are_chain_ids() {
        for ok in ["a", "ballast-consumer-1", "A.b_c-9", &"x".repeat(50)] {
            assert_eq!(ConsumerId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", &"x".repeat(51), "a/b", "a b", "é", "a\n", "a:b"] {
            assert_eq!(ConsumerId::parse(bad).unwrap_err().code(), 4, "{bad:?}");
        }
    }

    fn terms() -> Terms {
        Terms {
            name: "demo".into(),
            fee_per_epoch: 10,
            min_operators: 1,
            max_operators: 3,
            double_sign_slash_fraction: "0.05".parse().unwrap(),
            jail_epochs: 2,
        }
    }

    #[test]
    fn terms_follow_the_rules_and_the_params() {
        let p = Params {
            min_fee_per_epoch: 10,
            max_operators_cap: 5,
            ..Params::default()
        };
        terms().validate(&p).unwrap();
        assert_eq!(Terms::parse(&terms().to_proto()).unwrap(), terms());
        let cases = [
            Terms {
                fee_per_epoch: 9,
                ..terms()
            },
            Terms {
                max_operators: 0,
                min_operators: 0,
                ..terms()
            },
            Terms {
                max_operators: 6,
                ..terms()
            },
            Terms {
                min_operators: 4,
                ..terms()
            },
            Terms {
                min_operators: 0,
                ..terms()
            },
            Terms {
                name: " ".into(),
                ..terms()
            },
            Terms {
                name: "n".repeat(71),
                ..terms()
            },
            Terms {
                double_sign_slash_fraction: "1.5".parse().unwrap(),
                ..terms()
            },
        ];
        for t in cases {
            assert_eq!(t.validate(&p).unwrap_err().code(), 5, "{t:?}");
        }
        let mut pb = terms().to_proto();
        pb.fee_per_epoch = "ten".into();
        assert_eq!(Terms::parse(&pb).unwrap_err().code(), 5);
        let mut pb = terms().to_proto();
        pb.double_sign_slash_fraction = "1.1".into();
        assert_eq!(Terms::parse(&pb).unwrap_err().code(), 5);
        pb.double_sign_slash_fraction = "-0.1".into();
        assert_eq!(Terms::parse(&pb).unwrap_err().code(), 5);
        assert_eq!(parse_amount("amount", "0").unwrap_err().code(), 9);
        assert_eq!(parse_amount("amount", "").unwrap_err().code(), 9);
        assert_eq!(
            parse_amount("amount", &"9".repeat(40)).unwrap_err().code(),
            9
        );
        assert_eq!(parse_amount("amount", "12").unwrap(), 12);
        assert_eq!(AllocationMode::from_i32(0).unwrap_err().code(), 6);
        assert_eq!(AllocationMode::from_i32(3).unwrap_err().code(), 6);
    }

    #[test]
    fn records_round_trip_and_the_live_index_follows_the_status() {
        let mut s = MemState::new();
        let mut c = Consumer {
            id: ConsumerId::parse("c-1").unwrap(),
            owner: Address([1; 20]),
            terms: terms(),
            mode: AllocationMode::Shared,
            status: Status::Registered,
            lease_balance: 10,
            registered_height: 3,
            registered_epoch: 1,
            activated_epoch: 0,
            stopped_height: 0,
            last_update_id: 0,
            last_processed_epoch: 0,
            total_paid: 0,
            opt_in_count: 0,
        };
        save(&mut s, &c).unwrap();
        let d = Consumer {
            id: ConsumerId::parse("c-0").unwrap(),
            ..c.clone()
        };
        save(&mut s, &d).unwrap();
        assert_eq!(load(&s, &c.id).unwrap(), Some(c.clone()));
        assert_eq!(
            live_after(&s, None, 10).unwrap(),
            vec![d.id.clone(), c.id.clone()]
        );
        assert_eq!(live_after(&s, Some("c-0"), 10).unwrap(), vec![c.id.clone()]);
        assert_eq!(live_after(&s, None, 1).unwrap(), vec![d.id.clone()]);
        c.status = Status::Stopped(StopReason::Removed);
        save(&mut s, &c).unwrap();
        assert_eq!(load(&s, &c.id).unwrap().unwrap().status, c.status);
        assert_eq!(live_after(&s, None, 10).unwrap(), vec![d.id.clone()]);
        assert_eq!(c.require_live().unwrap_err().code(), 13);
        assert_eq!(c.require_owner(&Address([2; 20])).unwrap_err().code(), 12);
        assert_eq!(
            require(&s, &ConsumerId::parse("zz").unwrap())
                .unwrap_err()
                .code(),
            11
        );
    }

    #[test]
    fn only_active_or_funded_consumers_are_live_indexed() {
        let mut s = MemState::new();
        let mut c = Consumer {
            id: ConsumerId::parse("c").unwrap(),
            owner: Address([1; 20]),
            terms: terms(),
            mode: AllocationMode::Shared,
            status: Status::Registered,
            lease_balance: 0,
            registered_height: 3,
            registered_epoch: 1,
            activated_epoch: 0,
            stopped_height: 0,
            last_update_id: 0,
            last_processed_epoch: 0,
            total_paid: 0,
            opt_in_count: 0,
        };
        // REGISTERED below its fee (10): not walked.
        for lease in [0, 9] {
            c.lease_balance = lease;
            save(&mut s, &c).unwrap();
            assert!(!c.is_live_indexed());
            assert!(
                live_after(&s, None, 10).unwrap().is_empty(),
                "lease {lease}"
            );
        }
        c.lease_balance = 10;
        save(&mut s, &c).unwrap();
        assert_eq!(live_after(&s, None, 10).unwrap(), vec![c.id.clone()]);
        // A REGISTERED consumer whose fee rises above its lease leaves; an ACTIVE one stays.
        c.terms.fee_per_epoch = 11;
        save(&mut s, &c).unwrap();
        assert!(live_after(&s, None, 10).unwrap().is_empty());
        c.status = Status::Active;
        save(&mut s, &c).unwrap();
        assert_eq!(live_after(&s, None, 10).unwrap(), vec![c.id.clone()]);
        c.lease_balance = 0;
        save(&mut s, &c).unwrap();
        assert_eq!(live_after(&s, None, 10).unwrap(), vec![c.id.clone()]);
    }
}
