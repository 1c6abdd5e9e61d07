//! The checkpoint submitter.
//!
//! Every tick it reads the SEALED checkpoints from Ballast and, for each epoch:
//!
//! - not tracked yet: encodes the two parts (part 0 names the vigilante's account), builds tx1
//!   (funded and signed by the wallet) and tx2 (spending tx1's carry output, signed by the
//!   wallet), **persists both**, then broadcasts tx1 and tx2;
//! - tracked: reconciles the record with bitcoind. Txs that vanished (a bitcoind restart
//!   dropped its mempool, a reorg evicted them) are rebroadcast byte for byte; txs whose inputs
//!   were spent elsewhere are replaced by a fresh pair; a pair still unconfirmed
//!   `rbf_after_blocks` blocks after its broadcast is fee-bumped by hand (tx1 replaced with
//!   less change, tx2 rebuilt on the new tx1; `bumpfee` refuses a tx with in-wallet
//!   descendants).
//!
//! Tracked epochs that Ballast reports SUBMITTED or CONFIRMED are left alone (no bumps), and
//! are forgotten once FINALIZED, which never moves back. An epoch that a BTC reorg moved back
//! to SEALED is reconciled again.

use crate::ballast::{Ballast, BallastError};
use crate::btc::{BtcError, BtcRpc, TxState};
use crate::config::SubmitterConfig;
use crate::fault::{self, FaultPoint};
use crate::state::{Attempt, AttemptKind, EpochSubmission, StateError, StateStore, SubmitterState};
use crate::txbuild::{self, TxBuildError};
use ballast_checkpointing::encoding::{self, CheckpointTag};
use ballast_checkpointing::RawCheckpoint;
use ballast_proto::ballast::checkpointing::v1 as ck_pb;
use bitcoin::{Amount, OutPoint, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a submitter step failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitterError {
    /// bitcoind failed.
    #[error(transparent)]
    Btc(#[from] BtcError),
    /// Ballast failed.
    #[error(transparent)]
    Ballast(#[from] BallastError),
    /// The state file failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A transaction could not be built.
    #[error("epoch {epoch}: {source}")]
    Build {
        /// The epoch.
        epoch: u64,
        /// Why.
        #[source]
        source: TxBuildError,
    },
    /// Ballast's checkpoint or the persisted record is not usable.
    #[error("epoch {epoch}: {message}")]
    Invalid {
        /// The epoch.
        epoch: u64,
        /// What is wrong.
        message: String,
    },
}

/// How a broadcast failure should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// An input is gone (spent by another tx, or its tx is unknown): the tx can never confirm.
    InputsSpent,
    /// The fee is too low for the mempool or for a replacement.
    FeeTooLow,
    /// Anything else (bitcoind unreachable, other policy).
    Other,
}

/// Classifies a `sendrawtransaction` error.
pub fn classify_send_error(e: &BtcError) -> SendFailure {
    let BtcError::Rpc { message, .. } = e else {
        return SendFailure::Other;
    };
    let m = message.to_ascii_lowercase();
    if m.contains("missingorspent")
        || m.contains("missing inputs")
        || m.contains("missing-inputs")
        || m.contains("txn-mempool-conflict")
        || m.contains("inputs-spent")
    {
        SendFailure::InputsSpent
    } else if m.contains("fee not met")
        || m.contains("insufficient fee")
        || m.contains("min relay fee")
        || m.contains("mempool min fee")
    {
        SendFailure::FeeTooLow
    } else {
        SendFailure::Other
    }
}

/// The submitter: bitcoind, Ballast, its config and its persisted record.
pub struct Submitter {
    btc: Arc<BtcRpc>,
    ballast: Arc<Ballast>,
    cfg: SubmitterConfig,
    store: StateStore,
    state: SubmitterState,
    tag: Option<CheckpointTag>,
    fault: Option<FaultPoint>,
    /// Whether the coins of the recorded pairs were locked in the wallet since this start.
    coins_locked: bool,
    /// Per epoch, the last bitcoind height at which both of its txs were seen confirmed: a
    /// pair that a reorg put back in the mempool is bumped only `rbf_after_blocks` after that.
    last_confirmed_at: BTreeMap<u64, u64>,
}

impl Submitter {
    /// Loads the record in `store`.
    pub fn new(
        btc: Arc<BtcRpc>,
        ballast: Arc<Ballast>,
        cfg: SubmitterConfig,
        store: StateStore,
        fault: Option<FaultPoint>,
    ) -> Result<Submitter, StateError> {
        let state = store.load()?;
        if !state.epochs.is_empty() {
            tracing::info!(
                epochs = ?state.epochs.keys().collect::<Vec<_>>(),
                path = %store.path().display(),
                "loaded the record of submitted checkpoints; reconciling it with bitcoind"
            );
        }
        Ok(Submitter {
            btc,
            ballast,
            cfg,
            store,
            state,
            tag: None,
            fault,
            coins_locked: false,
            last_confirmed_at: BTreeMap::new(),
        })
    }

    /// The epochs being tracked.
    pub fn tracked(&self) -> Vec<u64> {
        self.state.epochs.keys().copied().collect()
    }

    async fn tag(&mut self) -> Result<CheckpointTag, SubmitterError> {
        if let Some(t) = self.tag {
            return Ok(t);
        }
        let p = self.ballast.checkpointing_params().await?;
        let b = p.checkpoint_tag.as_bytes();
        let tag: [u8; 4] = b.try_into().map_err(|_| SubmitterError::Invalid {
            epoch: 0,
            message: format!(
                "ballast's checkpoint_tag {:?} is not 4 bytes",
                p.checkpoint_tag
            ),
        })?;
        self.tag = Some(CheckpointTag(tag));
        Ok(CheckpointTag(tag))
    }

    /// Records that the epoch's latest pair went out at Bitcoin height `height`, and persists.
    fn mark_broadcast(&mut self, epoch: u64, height: u64) -> Result<(), StateError> {
        if let Some(a) = self
            .state
            .epochs
            .get_mut(&epoch)
            .and_then(|s| s.attempts.last_mut())
        {
            a.broadcast_height = Some(height);
        }
        self.save()
    }

    fn save(&self) -> Result<(), StateError> {
        self.store.save(&self.state)
    }

    /// Locks (once per start) the wallet coins of every recorded pair: coin locks live only in
    /// bitcoind's memory, and a pair persisted but never broadcast must keep its coins, or a
    /// new epoch could spend them first.
    async fn lock_recorded_coins(&mut self) -> Result<(), SubmitterError> {
        if self.coins_locked {
            return Ok(());
        }
        let mut locked = 0;
        for s in self.state.epochs.values() {
            for a in &s.attempts {
                if let Ok(tx1) = a.tx1() {
                    locked += self.btc.lock_inputs(&tx1).await?;
                }
            }
        }
        if locked > 0 {
            tracing::info!(
                coins = locked,
                "the unspent wallet coins of recorded checkpoint txs are locked"
            );
        }
        self.coins_locked = true;
        Ok(())
    }

    /// One pass over Ballast's SEALED checkpoints and the tracked epochs.
    pub async fn tick(&mut self) -> Result<(), SubmitterError> {
        let tag = self.tag().await?;
        self.lock_recorded_coins().await?;
        let height = self.btc.height().await?;
        let sealed: BTreeMap<u64, ck_pb::CheckpointRecord> = self
            .ballast
            .checkpoints(ck_pb::CheckpointStatus::Sealed)
            .await?
            .into_iter()
            .map(|c| (c.epoch, c))
            .collect();
        for epoch in self.tracked() {
            let status = if sealed.contains_key(&epoch) {
                ck_pb::CheckpointStatus::Sealed
            } else {
                let rec = self.ballast.checkpoint(epoch).await?;
                ck_pb::CheckpointStatus::try_from(rec.status)
                    .unwrap_or(ck_pb::CheckpointStatus::Unspecified)
            };
            match status {
                ck_pb::CheckpointStatus::Finalized => {
                    self.state.epochs.remove(&epoch);
                    self.last_confirmed_at.remove(&epoch);
                    self.save()?;
                    tracing::info!(epoch, "checkpoint finalized on ballast; no longer tracked");
                }
                ck_pb::CheckpointStatus::Sealed => {
                    if let Err(e) = self.reconcile(epoch, height).await {
                        if e.is_unreachable() {
                            return Err(e);
                        }
                        tracing::warn!(epoch, error = %e, "reconciling a submitted checkpoint failed; retrying next poll");
                    }
                }
                ck_pb::CheckpointStatus::Submitted | ck_pb::CheckpointStatus::Confirmed => {
                    // Ballast saw the txs in blocks: if a reorg puts them back in the mempool,
                    // a bump waits rbf_after_blocks from now, not from the broadcast.
                    self.last_confirmed_at.insert(epoch, height);
                }
                _ => {}
            }
        }
        for (epoch, rec) in &sealed {
            if self.state.epochs.contains_key(epoch) {
                continue;
            }
            if let Err(e) = self.submit_new(*epoch, rec, tag, height).await {
                if e.is_unreachable() {
                    return Err(e);
                }
                if e.is_insufficient_funds() {
                    // Later epochs would fail the same way; say it once per poll.
                    let waiting = sealed
                        .keys()
                        .filter(|e| !self.state.epochs.contains_key(e))
                        .count();
                    tracing::warn!(first_epoch = epoch, epochs = waiting, error = %e, "the wallet has no confirmed coins left to pay for checkpoints; waiting for funds");
                    break;
                }
                tracing::warn!(epoch, error = %e, "submitting a checkpoint failed; retrying next poll");
            }
        }
        Ok(())
    }

    /// Builds, persists and broadcasts the first pair of an epoch.
    async fn submit_new(
        &mut self,
        epoch: u64,
        rec: &ck_pb::CheckpointRecord,
        tag: CheckpointTag,
        height: u64,
    ) -> Result<(), SubmitterError> {
        let raw_pb = rec.raw.as_ref().ok_or_else(|| SubmitterError::Invalid {
            epoch,
            message: "a SEALED checkpoint without its raw checkpoint".into(),
        })?;
        let raw = RawCheckpoint::try_from(raw_pb).map_err(|e| SubmitterError::Invalid {
            epoch,
            message: format!("raw checkpoint: {e}"),
        })?;
        if raw.epoch != epoch {
            return Err(SubmitterError::Invalid {
                epoch,
                message: format!("raw checkpoint names epoch {}", raw.epoch),
            });
        }
        let (p0, p1) = encoding::encode(&raw, &self.ballast.address(), tag);
        let attempt = self
            .build_fresh(epoch, &p0, &p1, self.cfg.fee_rate_sat_vb)
            .await?;
        self.state.epochs.insert(
            epoch,
            EpochSubmission {
                epoch,
                part0_hex: hex::encode(p0),
                part1_hex: hex::encode(p1),
                attempts: vec![attempt],
            },
        );
        self.save()?;
        self.broadcast_last(epoch, height, "submitted").await
    }

    fn parts(&self, epoch: u64) -> Result<(Vec<u8>, Vec<u8>), SubmitterError> {
        let s = self
            .state
            .epochs
            .get(&epoch)
            .ok_or(SubmitterError::Invalid {
                epoch,
                message: "not tracked".into(),
            })?;
        let bad = |e: hex::FromHexError| SubmitterError::Invalid {
            epoch,
            message: format!("stored part: {e}"),
        };
        Ok((
            hex::decode(&s.part0_hex).map_err(bad)?,
            hex::decode(&s.part1_hex).map_err(bad)?,
        ))
    }

    /// A new pair at `rate`: tx1 funded by the wallet, tx2 on its carry output.
    async fn build_fresh(
        &self,
        epoch: u64,
        p0: &[u8],
        p1: &[u8],
        rate: u64,
    ) -> Result<Attempt, SubmitterError> {
        let build = |source| SubmitterError::Build { epoch, source };
        let carry = txbuild::carry_amount(self.cfg.max_fee_rate_sat_vb).map_err(build)?;
        let carry_script = self.btc.change_script().await?;
        let template = txbuild::tx1_template(p0, carry_script.clone(), carry).map_err(build)?;
        let funded = self
            .btc
            .fund(&template, rate, self.cfg.min_input_confirmations)
            .await?;
        let signed = async {
            let tx1 = self.btc.sign(&funded.tx, &[]).await?;
            let carry_vout = tx1
                .output
                .iter()
                .position(|o| o.script_pubkey == carry_script && o.value == carry)
                .ok_or_else(|| SubmitterError::Invalid {
                    epoch,
                    message: "the funded tx1 lost its carry output".into(),
                })?;
            let carry_vout = u32::try_from(carry_vout).expect("a tx has few outputs");
            let (tx2, fee2) = self
                .build_tx2(epoch, &tx1, carry_vout, carry, p1, rate, &[])
                .await?;
            Ok::<_, SubmitterError>((tx1, carry_vout, tx2, fee2))
        }
        .await;
        let (tx1, carry_vout, tx2, fee2) = match signed {
            Ok(x) => x,
            Err(e) => {
                // The funded coins were locked for this pair, which will not be sent.
                let _ = self.btc.unlock(&funded.tx).await;
                return Err(e);
            }
        };
        Ok(Attempt {
            kind: AttemptKind::Fresh,
            tx1_hex: bitcoin::consensus::encode::serialize_hex(&tx1),
            tx2_hex: bitcoin::consensus::encode::serialize_hex(&tx2),
            tx1_txid: tx1.compute_txid(),
            tx2_txid: tx2.compute_txid(),
            fee_rate_sat_vb: rate,
            tx1_fee_sat: funded.fee.to_sat(),
            tx2_fee_sat: fee2.to_sat(),
            tx1_change_index: funded.change_index,
            carry_vout,
            carry_sat: carry.to_sat(),
            broadcast_height: None,
        })
    }

    /// tx2 on `tx1`'s carry output at `rate`, paying at least what a replacement of
    /// `evicted` must. Signed twice: once to learn its size, once with the exact fee.
    #[allow(clippy::too_many_arguments)]
    async fn build_tx2(
        &self,
        epoch: u64,
        tx1: &Transaction,
        carry_vout: u32,
        carry: Amount,
        p1: &[u8],
        rate: u64,
        evicted: &[Amount],
    ) -> Result<(Transaction, Amount), SubmitterError> {
        let build = |source| SubmitterError::Build { epoch, source };
        let carry_script = tx1
            .output
            .get(carry_vout as usize)
            .map(|o| o.script_pubkey.clone())
            .ok_or_else(|| SubmitterError::Invalid {
                epoch,
                message: format!("tx1 has no output {carry_vout}"),
            })?;
        let outpoint = OutPoint::new(tx1.compute_txid(), carry_vout);
        let prevouts = [(outpoint.txid, carry_vout, carry_script, carry)];
        let change = self.btc.change_script().await?;
        let mut fee =
            txbuild::replacement_fee(txbuild::TX2_VSIZE_BUDGET, rate, evicted).map_err(build)?;
        for _ in 0..3 {
            let unsigned =
                txbuild::tx2_unsigned(outpoint, carry, p1, change.clone(), fee).map_err(build)?;
            let signed = self.btc.sign(&unsigned, &prevouts).await?;
            let need =
                txbuild::replacement_fee(signed.vsize() as u64, rate, evicted).map_err(build)?;
            if need <= fee {
                return Ok((signed, fee));
            }
            fee = need;
        }
        Err(SubmitterError::Invalid {
            epoch,
            message: "tx2's fee did not settle".into(),
        })
    }

    /// Broadcasts the epoch's last attempt (tx1, then tx2) and records the height.
    async fn broadcast_last(
        &mut self,
        epoch: u64,
        height: u64,
        what: &'static str,
    ) -> Result<(), SubmitterError> {
        let att = self.last_attempt(epoch)?.clone();
        let (tx1, tx2) = self.decode_pair(epoch, &att)?;
        fault::maybe_die(self.fault, FaultPoint::AfterPersist);
        // A tx2-only replacement keeps a tx1 that may be confirmed already, whose spent
        // outputs would make bitcoind call it a tx with missing inputs.
        if !matches!(
            self.btc.tx_state(att.tx1_txid).await?,
            TxState::Confirmed { .. }
        ) {
            self.btc.send(&tx1).await?;
        }
        fault::maybe_die(self.fault, FaultPoint::AfterTx1);
        self.btc.send(&tx2).await?;
        fault::maybe_die(self.fault, FaultPoint::AfterTx2);
        self.mark_broadcast(epoch, height)?;
        tracing::info!(
            epoch,
            tx1 = %att.tx1_txid,
            tx2 = %att.tx2_txid,
            fee_rate_sat_vb = att.fee_rate_sat_vb,
            btc_height = height,
            "{what} checkpoint"
        );
        Ok(())
    }

    fn last_attempt(&self, epoch: u64) -> Result<&Attempt, SubmitterError> {
        self.state
            .epochs
            .get(&epoch)
            .and_then(|s| s.attempts.last())
            .ok_or(SubmitterError::Invalid {
                epoch,
                message: "no attempt recorded".into(),
            })
    }

    fn decode_pair(
        &self,
        epoch: u64,
        a: &Attempt,
    ) -> Result<(Transaction, Transaction), SubmitterError> {
        let bad = |message| SubmitterError::Invalid { epoch, message };
        Ok((a.tx1().map_err(bad)?, a.tx2().map_err(bad)?))
    }

    async fn push_attempt(&mut self, epoch: u64, a: Attempt) -> Result<(), SubmitterError> {
        let s = self
            .state
            .epochs
            .get_mut(&epoch)
            .ok_or(SubmitterError::Invalid {
                epoch,
                message: "not tracked".into(),
            })?;
        s.attempts.push(a);
        self.save()?;
        Ok(())
    }

    /// Reconciles a tracked, SEALED epoch with bitcoind (see the module docs).
    async fn reconcile(&mut self, epoch: u64, height: u64) -> Result<(), SubmitterError> {
        let attempts = self
            .state
            .epochs
            .get(&epoch)
            .map(|s| s.attempts.clone())
            .unwrap_or_default();
        let Some(last) = attempts.last().cloned() else {
            return Ok(());
        };
        // The pair to follow: the newest whose tx1 is alive, else the newest.
        let mut chosen = None;
        for a in attempts.iter().rev() {
            let s1 = self.btc.tx_state(a.tx1_txid).await?;
            if s1.is_alive() {
                chosen = Some((a.clone(), s1));
                break;
            }
        }
        let Some((att, s1)) = chosen else {
            return self.revive(epoch, last, height).await;
        };
        let s2 = self.btc.tx_state(att.tx2_txid).await?;
        if !s2.is_alive() {
            return self.revive_tx2(epoch, att, s1, height).await;
        }
        let (TxState::Confirmed { .. }, TxState::Confirmed { .. }) = (s1, s2) else {
            // At least one is in the mempool: bump when it waited long enough.
            let since = att
                .broadcast_height
                .unwrap_or(height)
                .max(self.last_confirmed_at.get(&epoch).copied().unwrap_or(0));
            if self.cfg.rbf_after_blocks > 0
                && height >= since.saturating_add(self.cfg.rbf_after_blocks)
            {
                if s1 == TxState::Mempool {
                    self.bump_pair(epoch, &att, height).await?;
                } else {
                    self.bump_tx2(epoch, &att, height).await?;
                }
            }
            return Ok(());
        };
        self.last_confirmed_at.insert(epoch, height);
        Ok(())
    }

    /// No pair of the epoch is alive: rebroadcast the newest as it is; if its inputs were spent
    /// elsewhere build a fresh pair; if its fee no longer suffices, bump it.
    async fn revive(
        &mut self,
        epoch: u64,
        last: Attempt,
        height: u64,
    ) -> Result<(), SubmitterError> {
        let (tx1, tx2) = self.decode_pair(epoch, &last)?;
        match self.btc.send(&tx1).await {
            Ok(_) => {
                fault::maybe_die(self.fault, FaultPoint::AfterTx1);
                if let Err(e) = self.btc.send(&tx2).await {
                    tracing::warn!(epoch, tx2 = %last.tx2_txid, error = %e, "rebroadcast tx1, but bitcoind refused tx2; retrying next poll");
                }
                self.mark_broadcast(epoch, height)?;
                tracing::info!(
                    epoch,
                    tx1 = %last.tx1_txid,
                    tx2 = %last.tx2_txid,
                    btc_height = height,
                    "rebroadcast checkpoint txs that had left bitcoind's mempool and chain"
                );
                Ok(())
            }
            Err(e) => match classify_send_error(&e) {
                SendFailure::InputsSpent => {
                    if !self.btc.has_input_spent_in_chain(&tx1).await? {
                        // The coins are missing, not spent: bitcoind is behind (it lost blocks
                        // in a crash, or a reorg removed the funding tx). A fresh pair now could
                        // confirm beside this one once the coins are back.
                        tracing::warn!(epoch, tx1 = %last.tx1_txid, error = %e, "the inputs of the checkpoint txs are not in bitcoind's chain; waiting for them to come back");
                        return Ok(());
                    }
                    tracing::info!(epoch, tx1 = %last.tx1_txid, error = %e, "the inputs of the last checkpoint txs were spent elsewhere; building a fresh pair");
                    let (p0, p1) = self.parts(epoch)?;
                    let rate = last.fee_rate_sat_vb.max(self.cfg.fee_rate_sat_vb);
                    let a = self.build_fresh(epoch, &p0, &p1, rate).await?;
                    self.push_attempt(epoch, a).await?;
                    self.broadcast_last(epoch, height, "resubmitted").await
                }
                SendFailure::FeeTooLow => self.bump_pair(epoch, &last, height).await,
                SendFailure::Other => Err(e.into()),
            },
        }
    }

    /// tx1 is alive but tx2 is not: rebroadcast tx2, or build a new one on tx1's carry.
    async fn revive_tx2(
        &mut self,
        epoch: u64,
        att: Attempt,
        s1: TxState,
        height: u64,
    ) -> Result<(), SubmitterError> {
        // Another pair with the same tx1 may hold a live tx2 (a tx2-only bump).
        let same_tx1: Vec<Attempt> = self
            .state
            .epochs
            .get(&epoch)
            .map(|s| {
                s.attempts
                    .iter()
                    .filter(|a| a.tx1_txid == att.tx1_txid && a.tx2_txid != att.tx2_txid)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for other in same_tx1 {
            if self.btc.tx_state(other.tx2_txid).await?.is_alive() {
                return Ok(());
            }
        }
        let (_, tx2) = self.decode_pair(epoch, &att)?;
        match self.btc.send(&tx2).await {
            Ok(_) => {
                tracing::info!(epoch, tx1 = %att.tx1_txid, tx2 = %att.tx2_txid, "rebroadcast tx2, which had left bitcoind's mempool");
                Ok(())
            }
            Err(e) => match classify_send_error(&e) {
                SendFailure::FeeTooLow | SendFailure::InputsSpent if s1.is_alive() => {
                    self.bump_tx2(epoch, &att, height).await
                }
                _ => Err(e.into()),
            },
        }
    }

    /// Replaces tx1 (same inputs, less change, a higher fee rate) and rebuilds tx2 on it.
    async fn bump_pair(
        &mut self,
        epoch: u64,
        att: &Attempt,
        height: u64,
    ) -> Result<(), SubmitterError> {
        let build = |source| SubmitterError::Build { epoch, source };
        // From the highest rate tried so far: a replacement that bitcoind refused is not
        // tried again at the same rate.
        let tried = self
            .state
            .epochs
            .get(&epoch)
            .and_then(|s| s.attempts.iter().map(|a| a.fee_rate_sat_vb).max())
            .unwrap_or(att.fee_rate_sat_vb)
            .max(att.fee_rate_sat_vb);
        let Some(rate) = txbuild::bumped_rate(tried, self.cfg.max_fee_rate_sat_vb) else {
            tracing::warn!(
                epoch,
                fee_rate_sat_vb = att.fee_rate_sat_vb,
                "checkpoint txs are unconfirmed but already at max_fee_rate_sat_vb; not bumping"
            );
            return Ok(());
        };
        let Some(change_index) = att.tx1_change_index else {
            tracing::warn!(epoch, tx1 = %att.tx1_txid, "tx1 has no change output to pay a bump from; not bumping");
            return Ok(());
        };
        let (tx1, _) = self.decode_pair(epoch, att)?;
        let fee1 =
            txbuild::replacement_fee(tx1.vsize() as u64, rate, &[att.tx1_fee(), att.tx2_fee()])
                .map_err(build)?;
        let delta = fee1
            .checked_sub(att.tx1_fee())
            .ok_or(build(TxBuildError::Overflow("bump delta")))?;
        let unsigned =
            txbuild::with_less_change(&tx1, change_index as usize, delta).map_err(build)?;
        let new_tx1 = self.btc.sign(&unsigned, &[]).await?;
        let carry = Amount::from_sat(att.carry_sat);
        let (_, p1) = self.parts(epoch)?;
        let (new_tx2, fee2) = self
            .build_tx2(epoch, &new_tx1, att.carry_vout, carry, &p1, rate, &[])
            .await?;
        let a = Attempt {
            kind: AttemptKind::Bump,
            tx1_hex: bitcoin::consensus::encode::serialize_hex(&new_tx1),
            tx2_hex: bitcoin::consensus::encode::serialize_hex(&new_tx2),
            tx1_txid: new_tx1.compute_txid(),
            tx2_txid: new_tx2.compute_txid(),
            fee_rate_sat_vb: rate,
            tx1_fee_sat: fee1.to_sat(),
            tx2_fee_sat: fee2.to_sat(),
            tx1_change_index: att.tx1_change_index,
            carry_vout: att.carry_vout,
            carry_sat: att.carry_sat,
            broadcast_height: None,
        };
        tracing::info!(epoch, old_tx1 = %att.tx1_txid, old_tx2 = %att.tx2_txid, old_fee_rate_sat_vb = att.fee_rate_sat_vb, fee_rate_sat_vb = rate, "bumping the fee of unconfirmed checkpoint txs (RBF)");
        self.push_attempt(epoch, a).await?;
        self.broadcast_last(epoch, height, "replaced (fee bump)")
            .await
    }

    /// tx1 is confirmed, tx2 is not: replaces tx2 with a higher fee.
    async fn bump_tx2(
        &mut self,
        epoch: u64,
        att: &Attempt,
        height: u64,
    ) -> Result<(), SubmitterError> {
        let rate = txbuild::bumped_rate(att.fee_rate_sat_vb, self.cfg.max_fee_rate_sat_vb)
            .unwrap_or(att.fee_rate_sat_vb);
        let (tx1, _) = self.decode_pair(epoch, att)?;
        let (_, p1) = self.parts(epoch)?;
        let carry = Amount::from_sat(att.carry_sat);
        let (new_tx2, fee2) = self
            .build_tx2(
                epoch,
                &tx1,
                att.carry_vout,
                carry,
                &p1,
                rate,
                &[att.tx2_fee()],
            )
            .await?;
        let a = Attempt {
            kind: AttemptKind::Tx2,
            tx2_hex: bitcoin::consensus::encode::serialize_hex(&new_tx2),
            tx2_txid: new_tx2.compute_txid(),
            fee_rate_sat_vb: rate,
            tx2_fee_sat: fee2.to_sat(),
            broadcast_height: None,
            ..att.clone()
        };
        tracing::info!(epoch, tx1 = %att.tx1_txid, old_tx2 = %att.tx2_txid, fee_rate_sat_vb = rate, "replacing tx2 on the confirmed tx1");
        self.push_attempt(epoch, a).await?;
        self.broadcast_last(epoch, height, "replaced tx2 of").await
    }
}

impl SubmitterError {
    /// Whether the wallet could not fund a transaction.
    pub fn is_insufficient_funds(&self) -> bool {
        matches!(self, SubmitterError::Btc(BtcError::Rpc { message, .. }) if message.contains("Insufficient funds"))
    }

    /// Whether a node could not be reached (the whole tick is retried with backoff).
    pub fn is_unreachable(&self) -> bool {
        match self {
            SubmitterError::Btc(b) => b.is_unreachable(),
            SubmitterError::Ballast(BallastError::Unreachable(_)) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(code: i32, message: &str) -> BtcError {
        BtcError::Rpc {
            method: "sendrawtransaction",
            code,
            message: message.into(),
        }
    }

    #[test]
    fn broadcast_errors_are_classified_by_bitcoinds_reasons() {
        assert_eq!(
            classify_send_error(&rpc(-25, "bad-txns-inputs-missingorspent")),
            SendFailure::InputsSpent
        );
        assert_eq!(
            classify_send_error(&rpc(-26, "txn-mempool-conflict")),
            SendFailure::InputsSpent
        );
        assert_eq!(
            classify_send_error(&rpc(-26, "min relay fee not met, 100 < 141")),
            SendFailure::FeeTooLow
        );
        assert_eq!(
            classify_send_error(&rpc(-26, "insufficient fee, rejecting replacement")),
            SendFailure::FeeTooLow
        );
        assert_eq!(
            classify_send_error(&rpc(-26, "scriptpubkey")),
            SendFailure::Other
        );
        assert!(SubmitterError::Btc(BtcError::Rpc {
            method: "fundrawtransaction",
            code: -4,
            message: "Insufficient funds".into()
        })
        .is_insufficient_funds());
        assert!(!SubmitterError::Btc(rpc(-26, "min relay fee not met")).is_insufficient_funds());
        assert_eq!(
            classify_send_error(&BtcError::Unreachable {
                url: "x".into(),
                message: "refused".into()
            }),
            SendFailure::Other
        );
    }
}
