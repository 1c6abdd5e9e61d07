//! One poll of the covenant signer: list the PENDING delegations, keep those whose committee
//! names this member and that do not carry its signatures yet, check each one
//! ([`check_delegation`]), sign it and send `MsgAddCovenantSigs`.
//!
//! What the signer remembers lives in memory only, for this process run:
//! - delegations it signed (or found signed), which it never signs again;
//! - delegations its checks refused, logged once and skipped (a delegation never changes);
//! - delegations the chain refused, tried again after [`RETRY_REFUSED_AFTER`].
//!
//! After a restart the chain tells: a delegation that already carries this member's signatures
//! is skipped, and one that does not is checked and signed again (signing is deterministic, so
//! the signatures are the same bytes).
//!
//! The errors of one delegation are logged and never stop the poll; only a node that cannot be
//! reached (or a chain whose params do not parse) ends it early, and the daemon retries.

use crate::check::{
    already_signed_by, check_delegation, in_committee, params_from_proto, sign_delegation,
};
use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::error::BtcStakingError;
use ballast_restaking::btc::params::BtcStakingParams;
use ballast_vigilante::ballast::{Ballast, BallastError, Included};
use prost::Message;
use secp256k1::{SecretKey, XOnlyPublicKey};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The codespace of the restaking module's errors.
pub const RESTAKING_CODESPACE: &str = "restaking";
/// `restaking` code 61: this covenant key already signed the delegation.
pub const CODE_COVENANT_ALREADY_SIGNED: u32 = 61;
/// `restaking` code 62: the delegation's status does not allow the message (the quorum was
/// reached meanwhile, or it was unbonded).
pub const CODE_WRONG_STATUS: u32 = 62;
/// How long a delegation whose signatures the chain refused waits before it is tried again.
pub const RETRY_REFUSED_AFTER: Duration = Duration::from_secs(60);
/// The `Any` type URL of `MsgAddCovenantSigs`.
pub const ADD_COVENANT_SIGS_URL: &str = "/ballast.restaking.v1.MsgAddCovenantSigs";

const PARAMS_PATH: &str = "/ballast.restaking.v1.Query/Params";
const DELEGATIONS_PATH: &str = "/ballast.restaking.v1.Query/BtcDelegations";

/// What the signer needs from Ballast. [`Ballast`] is the real one; tests use a fake chain.
pub trait CovenantChain: Send + Sync {
    /// The account that sends the signatures (bech32).
    fn signer_address(&self) -> String;
    /// The chain's BTC staking params.
    fn btc_params(&self)
        -> impl Future<Output = Result<pb::BtcStakingParams, BallastError>> + Send;
    /// One page of PENDING delegations after `start_after`: the delegations and the key of the
    /// next page (empty on the last page).
    fn pending_page(
        &self,
        start_after: &str,
        limit: u32,
    ) -> impl Future<Output = Result<(Vec<pb::BtcDelegation>, String), BallastError>> + Send;
    /// Signs, broadcasts and waits for a tx carrying `msg`.
    fn add_covenant_sigs(
        &self,
        msg: pb::MsgAddCovenantSigs,
    ) -> impl Future<Output = Result<Included, BallastError>> + Send;
}

impl CovenantChain for Ballast {
    fn signer_address(&self) -> String {
        self.address().to_string()
    }

    async fn btc_params(&self) -> Result<pb::BtcStakingParams, BallastError> {
        let r: pb::QueryParamsResponse = self.query(PARAMS_PATH, pb::QueryParamsRequest {}).await?;
        r.params
            .and_then(|p| p.btc)
            .ok_or_else(|| BallastError::Decode {
                path: PARAMS_PATH,
                message: "no btc staking params in the answer".into(),
            })
    }

    async fn pending_page(
        &self,
        start_after: &str,
        limit: u32,
    ) -> Result<(Vec<pb::BtcDelegation>, String), BallastError> {
        let r: pb::QueryBtcDelegationsResponse = self
            .query(
                DELEGATIONS_PATH,
                pb::QueryBtcDelegationsRequest {
                    status: pb::BtcDelegationStatus::Pending as i32,
                    start_after: start_after.to_string(),
                    limit,
                    ..Default::default()
                },
            )
            .await?;
        Ok((r.delegations, r.next))
    }

    async fn add_covenant_sigs(
        &self,
        msg: pb::MsgAddCovenantSigs,
    ) -> Result<Included, BallastError> {
        let any = prost_types::Any {
            type_url: ADD_COVENANT_SIGS_URL.into(),
            value: msg.encode_to_vec(),
        };
        self.send("MsgAddCovenantSigs", vec![any]).await
    }
}

/// Why a poll ended early.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// A Ballast query failed.
    #[error(transparent)]
    Ballast(#[from] BallastError),
    /// The chain's BTC staking params do not parse.
    #[error("the chain's btc staking params are invalid: {0}")]
    Params(#[source] BtcStakingError),
}

impl SignerError {
    /// Whether the node could not be reached (the daemon then backs off).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SignerError::Ballast(BallastError::Unreachable(_)))
    }
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// PENDING delegations listed.
    pub pending: usize,
    /// Delegations whose committee does not name this member.
    pub not_member: usize,
    /// Delegations this member signed earlier (in this run or, as the chain shows, before).
    pub already_signed: usize,
    /// Delegations signed and sent in this poll.
    pub signed: usize,
    /// Delegations the chain said were done meanwhile (already signed, no longer PENDING).
    pub done_on_chain: usize,
    /// Delegations the checks refused (in this poll or earlier in this run).
    pub refused: usize,
    /// Delegations whose signatures the chain refused (tried again later).
    pub rejected: usize,
}

/// The covenant member's signing loop state.
pub struct Signer<C> {
    chain: C,
    key: SecretKey,
    pk: XOnlyPublicKey,
    page_limit: u32,
    /// Appended with one JSON line per signed delegation.
    record: Option<PathBuf>,
    signed: BTreeSet<String>,
    refused: BTreeSet<String>,
    rejected: BTreeMap<String, Instant>,
    committee_checked: bool,
}

impl<C: CovenantChain> Signer<C> {
    /// A signer with the covenant key `key`, sending through `chain`, appending what it signs
    /// to `record` when given.
    pub fn new(chain: C, key: SecretKey, page_limit: u32, record: Option<PathBuf>) -> Self {
        let pk = ballast_client::btc_key::xonly(&key);
        Signer {
            chain,
            key,
            pk,
            page_limit,
            record,
            signed: BTreeSet::new(),
            refused: BTreeSet::new(),
            rejected: BTreeMap::new(),
            committee_checked: false,
        }
    }

    /// This member's x-only key.
    pub fn covenant_pk(&self) -> XOnlyPublicKey {
        self.pk
    }

    /// The chain connection.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// Every PENDING delegation, all pages.
    async fn pending(&self) -> Result<Vec<pb::BtcDelegation>, BallastError> {
        let mut all = Vec::new();
        let mut start = String::new();
        loop {
            let (page, next) = self.chain.pending_page(&start, self.page_limit).await?;
            all.extend(page);
            // An empty key ends the listing; a key that does not move on would loop forever.
            if next.is_empty() || next == start {
                return Ok(all);
            }
            start = next;
        }
    }

    /// One poll (see the module docs). Returns early, with what was done so far, once `stop`
    /// turns true.
    pub async fn poll(&mut self, stop: &watch::Receiver<bool>) -> Result<PollOutcome, SignerError> {
        let pending = self.pending().await?;
        let mut out = PollOutcome {
            pending: pending.len(),
            ..PollOutcome::default()
        };
        let now = Instant::now();
        self.rejected.retain(|_, retry_at| *retry_at > now);
        let mut todo = Vec::new();
        for d in pending {
            if !in_committee(&d, &self.pk) {
                out.not_member += 1;
            } else if self.signed.contains(&d.staking_txid) || already_signed_by(&d, &self.pk) {
                out.already_signed += 1;
                self.signed.insert(d.staking_txid.clone());
            } else if self.refused.contains(&d.staking_txid) {
                out.refused += 1;
            } else if self.rejected.contains_key(&d.staking_txid) {
                out.rejected += 1;
            } else {
                todo.push(d);
            }
        }
        if todo.is_empty() {
            return Ok(out);
        }
        let params = self.chain.btc_params().await?;
        let params = params_from_proto(&params).map_err(SignerError::Params)?;
        self.warn_once_if_not_in_current_committee(&params);
        for d in todo {
            if *stop.borrow() {
                break;
            }
            self.handle(&params, &d, &mut out).await?;
        }
        Ok(out)
    }

    fn warn_once_if_not_in_current_committee(&mut self, params: &BtcStakingParams) {
        if self.committee_checked {
            return;
        }
        self.committee_checked = true;
        if !params.covenant_pks.contains(&self.pk) {
            tracing::warn!(
                covenant_pk = %hex::encode(self.pk.serialize()),
                "this key is not in the chain's current covenant committee; only delegations created under a committee that names it are signed"
            );
        }
    }

    /// Checks, signs and sends one delegation. Only an unreachable node is an error.
    async fn handle(
        &mut self,
        params: &BtcStakingParams,
        d: &pb::BtcDelegation,
        out: &mut PollOutcome,
    ) -> Result<(), SignerError> {
        let txid = d.staking_txid.clone();
        let checked = match check_delegation(params, d, &self.pk) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(staking_txid = %txid, error = %e, "not signing a delegation that fails the covenant checks");
                self.refused.insert(txid);
                out.refused += 1;
                return Ok(());
            }
        };
        let sigs = match sign_delegation(&self.key, &checked) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(staking_txid = %txid, error = %e, "signing a checked delegation failed");
                self.refused.insert(txid);
                out.refused += 1;
                return Ok(());
            }
        };
        let msg = sigs.to_msg(&self.chain.signer_address(), checked.staking_txid());
        match self.chain.add_covenant_sigs(msg).await {
            Ok(inc) => {
                tracing::info!(staking_txid = %txid, txhash = %inc.txhash, height = inc.height, "added covenant signatures");
                self.write_record(&txid, &inc);
                self.signed.insert(txid);
                out.signed += 1;
                Ok(())
            }
            Err(BallastError::Rejected {
                code,
                codespace,
                log,
                ..
            }) if codespace == RESTAKING_CODESPACE
                && (code == CODE_COVENANT_ALREADY_SIGNED || code == CODE_WRONG_STATUS) =>
            {
                tracing::debug!(staking_txid = %txid, code, %log, "the chain needs no signatures from this member for the delegation");
                self.signed.insert(txid);
                out.done_on_chain += 1;
                Ok(())
            }
            Err(e @ BallastError::Unreachable(_)) => Err(e.into()),
            Err(e) => {
                tracing::warn!(staking_txid = %txid, error = %e, retry_in_s = RETRY_REFUSED_AFTER.as_secs(), "the chain refused the covenant signatures");
                self.rejected
                    .insert(txid, Instant::now() + RETRY_REFUSED_AFTER);
                out.rejected += 1;
                Ok(())
            }
        }
    }

    fn write_record(&self, txid: &str, inc: &Included) {
        let Some(path) = &self.record else {
            return;
        };
        let line = serde_json::json!({
            "staking_txid": txid,
            "covenant_pk": hex::encode(self.pk.serialize()),
            "txhash": inc.txhash,
            "height": inc.height,
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot append to the record of signed delegations");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::verify_sigs;
    use crate::testutil::Vector;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A chain that lists `delegations` one per page, records what is sent and answers each
    /// send with the next queued reply (inclusion when none is queued).
    struct FakeChain {
        params: pb::BtcStakingParams,
        delegations: Mutex<Vec<pb::BtcDelegation>>,
        sent: Mutex<Vec<pb::MsgAddCovenantSigs>>,
        replies: Mutex<VecDeque<Result<Included, BallastError>>>,
        unreachable: Mutex<bool>,
    }

    impl FakeChain {
        fn new(params: pb::BtcStakingParams, delegations: Vec<pb::BtcDelegation>) -> Self {
            FakeChain {
                params,
                delegations: Mutex::new(delegations),
                sent: Mutex::new(Vec::new()),
                replies: Mutex::new(VecDeque::new()),
                unreachable: Mutex::new(false),
            }
        }

        fn sent(&self) -> Vec<pb::MsgAddCovenantSigs> {
            self.sent.lock().unwrap().clone()
        }

        fn reply(&self, r: Result<Included, BallastError>) {
            self.replies.lock().unwrap().push_back(r);
        }
    }

    impl CovenantChain for FakeChain {
        fn signer_address(&self) -> String {
            "bal1covenantpayer".into()
        }

        async fn btc_params(&self) -> Result<pb::BtcStakingParams, BallastError> {
            Ok(self.params.clone())
        }

        async fn pending_page(
            &self,
            start_after: &str,
            limit: u32,
        ) -> Result<(Vec<pb::BtcDelegation>, String), BallastError> {
            assert_eq!(limit, 1, "the signer asks for its configured page size");
            if *self.unreachable.lock().unwrap() {
                return Err(BallastError::Unreachable("connection refused".into()));
            }
            let all = self.delegations.lock().unwrap();
            let mut pending = all
                .iter()
                .filter(|d| d.status == pb::BtcDelegationStatus::Pending as i32)
                .filter(|d| start_after.is_empty() || d.staking_txid.as_str() > start_after);
            let page: Vec<_> = pending.next().into_iter().cloned().collect();
            let next = match (page.first(), pending.next()) {
                (Some(d), Some(_)) => d.staking_txid.clone(),
                _ => String::new(),
            };
            Ok((page, next))
        }

        async fn add_covenant_sigs(
            &self,
            msg: pb::MsgAddCovenantSigs,
        ) -> Result<Included, BallastError> {
            self.sent.lock().unwrap().push(msg);
            self.replies
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(Included {
                    txhash: "AB".repeat(32),
                    height: 9,
                }))
        }
    }

    fn rejected(code: u32) -> BallastError {
        BallastError::Rejected {
            what: "MsgAddCovenantSigs".into(),
            code,
            codespace: RESTAKING_CODESPACE.into(),
            log: "refused".into(),
        }
    }

    /// The vector's delegation under another txid (the checks would refuse it: its staking tx
    /// has another id), sorted by txid in the listing.
    fn renamed(d: &pb::BtcDelegation, txid_digit: char) -> pb::BtcDelegation {
        let mut d = d.clone();
        d.staking_txid = txid_digit.to_string().repeat(64);
        d
    }

    #[tokio::test]
    async fn a_poll_signs_each_delegation_of_its_committee_once_and_skips_the_rest() {
        let v = Vector::load();
        let pks = v.covenant_pks();
        let sks = v.covenant_sks();
        let good = v.delegation();
        // Member 0 is not in this one's committee.
        let mut other_committee = renamed(&good, '0');
        other_committee
            .covenant_pks
            .retain(|k| k.as_slice() != pks[0].serialize());
        // This one already carries member 0's signatures.
        let mut signed_before = renamed(&good, '1');
        signed_before.covenant_sigs.push(pb::CovenantSignatures {
            covenant_pk: pks[0].serialize().to_vec(),
            ..Default::default()
        });
        // This one fails the checks (its staking tx has another id).
        let invalid = renamed(&good, '3');
        // Not PENDING: not listed.
        let mut verified = renamed(&good, '4');
        verified.status = pb::BtcDelegationStatus::Verified as i32;
        let chain = FakeChain::new(
            v.chain_params(),
            vec![
                other_committee,
                signed_before,
                good.clone(),
                invalid,
                verified,
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("signed.jsonl");
        let mut signer = Signer::new(chain, sks[0], 1, Some(record.clone()));
        let (_stop_tx, stop) = watch::channel(false);

        let out = signer.poll(&stop).await.unwrap();
        assert_eq!(
            out,
            PollOutcome {
                pending: 4,
                not_member: 1,
                already_signed: 1,
                signed: 1,
                refused: 1,
                ..PollOutcome::default()
            }
        );
        let sent = signer.chain().sent();
        assert_eq!(sent.len(), 1);
        let msg = &sent[0];
        assert_eq!(msg.staking_txid, good.staking_txid);
        assert_eq!(msg.signer, "bal1covenantpayer");
        assert_eq!(msg.covenant_pk, pks[0].serialize().to_vec());
        // What was sent verifies as member 0's signatures on the delegation.
        let params = params_from_proto(&v.chain_params()).unwrap();
        let checked = check_delegation(&params, &good, &pks[0]).unwrap();
        verify_sigs(
            &checked,
            &crate::check::CovenantSigs {
                covenant_pk: pks[0],
                slashing_adaptor_sig: msg.slashing_adaptor_sig.clone(),
                unbonding_slashing_adaptor_sig: msg.unbonding_slashing_adaptor_sig.clone(),
                unbonding_sig: msg.unbonding_sig.clone(),
            },
        )
        .unwrap();
        let line = std::fs::read_to_string(&record).unwrap();
        assert!(line.contains(&good.staking_txid), "{line}");
        assert_eq!(line.lines().count(), 1);

        // The chain still lists it as PENDING (no quorum yet) without the new signature: it is
        // not signed again in this run, and the refused one is not checked again.
        let out = signer.poll(&stop).await.unwrap();
        assert_eq!(out.signed, 0);
        assert_eq!(out.already_signed, 2);
        assert_eq!(out.refused, 1);
        assert_eq!(signer.chain().sent().len(), 1);

        // A restarted signer learns from the chain: once the delegation carries member 0's
        // signatures it is skipped; member 1 still signs it.
        let chain = FakeChain::new(v.chain_params(), vec![good.clone()]);
        chain.delegations.lock().unwrap()[0]
            .covenant_sigs
            .push(pb::CovenantSignatures {
                covenant_pk: msg.covenant_pk.clone(),
                slashing_adaptor_sig: msg.slashing_adaptor_sig.clone(),
                unbonding_slashing_adaptor_sig: msg.unbonding_slashing_adaptor_sig.clone(),
                unbonding_sig: msg.unbonding_sig.clone(),
            });
        let mut restarted = Signer::new(chain, sks[0], 1, None);
        let out = restarted.poll(&stop).await.unwrap();
        assert_eq!((out.already_signed, out.signed), (1, 0));
        assert!(restarted.chain().sent().is_empty());
        let chain = FakeChain::new(v.chain_params(), vec![good.clone()]);
        let mut member1 = Signer::new(chain, sks[1], 1, None);
        assert_eq!(member1.poll(&stop).await.unwrap().signed, 1);
        assert_eq!(
            member1.chain().sent()[0].covenant_pk,
            pks[1].serialize().to_vec()
        );
    }

    #[tokio::test]
    async fn chain_refusals_and_lost_connections_are_handled_per_delegation() {
        let v = Vector::load();
        let sks = v.covenant_sks();
        let good = v.delegation();
        let (_stop_tx, stop) = watch::channel(false);

        // "Already signed" (a signature sent just before a restart) and "no longer PENDING"
        // are done: never sent again.
        for code in [CODE_COVENANT_ALREADY_SIGNED, CODE_WRONG_STATUS] {
            let chain = FakeChain::new(v.chain_params(), vec![good.clone()]);
            chain.reply(Err(rejected(code)));
            let mut signer = Signer::new(chain, sks[0], 1, None);
            let out = signer.poll(&stop).await.unwrap();
            assert_eq!((out.done_on_chain, out.signed), (1, 0));
            let out = signer.poll(&stop).await.unwrap();
            assert_eq!(out.already_signed, 1);
            assert_eq!(signer.chain().sent().len(), 1);
        }

        // Another refusal waits before the next try, and does not stop the poll: the next
        // delegation (one that fails the checks) is still handled.
        let second = renamed(&good, 'f');
        let chain = FakeChain::new(v.chain_params(), vec![good.clone(), second]);
        chain.reply(Err(rejected(204)));
        let mut signer = Signer::new(chain, sks[0], 1, None);
        let out = signer.poll(&stop).await.unwrap();
        assert_eq!((out.rejected, out.refused, out.signed), (1, 1, 0));
        let out = signer.poll(&stop).await.unwrap();
        assert_eq!((out.rejected, out.signed), (1, 0));
        assert_eq!(signer.chain().sent().len(), 1, "retried before its time");
        // Once the wait is over it is sent again.
        for t in signer.rejected.values_mut() {
            *t = Instant::now();
        }
        let out = signer.poll(&stop).await.unwrap();
        assert_eq!(out.signed, 1);
        assert_eq!(signer.chain().sent().len(), 2);

        // A lost connection while sending fails the poll (the daemon backs off) and the
        // delegation is sent again on the next poll.
        let chain = FakeChain::new(v.chain_params(), vec![good.clone()]);
        chain.reply(Err(BallastError::Unreachable("reset".into())));
        let mut signer = Signer::new(chain, sks[0], 1, None);
        let err = signer.poll(&stop).await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert_eq!(signer.poll(&stop).await.unwrap().signed, 1);
        assert_eq!(signer.chain().sent().len(), 2);
        // And a node that cannot be listed fails the poll the same way.
        *signer.chain().unreachable.lock().unwrap() = true;
        assert!(signer.poll(&stop).await.unwrap_err().is_unreachable());

        // A stop request ends the poll before the next delegation.
        let chain = FakeChain::new(v.chain_params(), vec![good.clone()]);
        let mut signer = Signer::new(chain, sks[0], 1, None);
        let (stop_tx, stop) = watch::channel(false);
        stop_tx.send(true).unwrap();
        let out = signer.poll(&stop).await.unwrap();
        assert_eq!((out.pending, out.signed), (1, 0));
        assert!(signer.chain().sent().is_empty());
    }

    #[tokio::test]
    async fn the_poll_loop_stops_on_request() {
        let v = Vector::load();
        let chain = FakeChain::new(v.chain_params(), vec![v.delegation()]);
        *chain.unreachable.lock().unwrap() = true;
        let signer = Signer::new(chain, v.covenant_sks()[0], 1, None);
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(crate::daemon::poll_loop(
            signer,
            Duration::from_millis(20),
            stop,
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !task.is_finished(),
            "the loop keeps retrying an unreachable node"
        );
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops within its wait")
            .unwrap();
    }
}
