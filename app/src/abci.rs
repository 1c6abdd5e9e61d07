//! The `tendermint_abci::Application` adapter. An [`AppError`] from a consensus call means the
//! node cannot safely go on: it logs the reason and exits. Storage is only written at Commit, so
//! the next start resumes from the last committed block and CometBFT replays the rest.

use crate::app::{App, AppError};
use tendermint_proto::v0_38::abci as pb;

/// Exits the process after a fatal consensus error.
fn halt(call: &str, e: &AppError) -> ! {
    tracing::error!(call, error = %e, "fatal error in a consensus call; stopping the node (restart resumes from the last commit)");
    eprintln!("ballastd: fatal error in {call}: {e}");
    std::process::exit(70)
}

/// [`App`] served over ABCI; fatal errors stop the process.
#[derive(Clone)]
pub struct AbciApp(pub App);

impl tendermint_abci::Application for AbciApp {
    fn info(&self, _req: pb::RequestInfo) -> pb::ResponseInfo {
        self.0.info()
    }

    fn init_chain(&self, req: pb::RequestInitChain) -> pb::ResponseInitChain {
        self.0
            .init_chain(req)
            .unwrap_or_else(|e| halt("InitChain", &e))
    }

    fn query(&self, req: pb::RequestQuery) -> pb::ResponseQuery {
        self.0.query(req)
    }

    fn check_tx(&self, req: pb::RequestCheckTx) -> pb::ResponseCheckTx {
        self.0.check_tx(req).unwrap_or_else(|e| halt("CheckTx", &e))
    }

    fn commit(&self) -> pb::ResponseCommit {
        self.0.commit().unwrap_or_else(|e| halt("Commit", &e))
    }

    fn prepare_proposal(&self, req: pb::RequestPrepareProposal) -> pb::ResponsePrepareProposal {
        self.0
            .prepare_proposal(req)
            .unwrap_or_else(|e| halt("PrepareProposal", &e))
    }

    fn process_proposal(&self, req: pb::RequestProcessProposal) -> pb::ResponseProcessProposal {
        let ok = self
            .0
            .process_proposal(req)
            .unwrap_or_else(|e| halt("ProcessProposal", &e));
        let status = if ok {
            pb::response_process_proposal::ProposalStatus::Accept
        } else {
            pb::response_process_proposal::ProposalStatus::Reject
        };
        pb::ResponseProcessProposal {
            status: status as i32,
        }
    }

    fn extend_vote(&self, req: pb::RequestExtendVote) -> pb::ResponseExtendVote {
        let ext = self
            .0
            .extend_vote(req)
            .unwrap_or_else(|e| halt("ExtendVote", &e));
        pb::ResponseExtendVote {
            vote_extension: ext.into(),
        }
    }

    fn verify_vote_extension(
        &self,
        req: pb::RequestVerifyVoteExtension,
    ) -> pb::ResponseVerifyVoteExtension {
        let ok = self
            .0
            .verify_vote_extension(req)
            .unwrap_or_else(|e| halt("VerifyVoteExtension", &e));
        let status = if ok {
            pb::response_verify_vote_extension::VerifyStatus::Accept
        } else {
            pb::response_verify_vote_extension::VerifyStatus::Reject
        };
        pb::ResponseVerifyVoteExtension {
            status: status as i32,
        }
    }

    fn finalize_block(&self, req: pb::RequestFinalizeBlock) -> pb::ResponseFinalizeBlock {
        self.0
            .finalize_block(req)
            .unwrap_or_else(|e| halt("FinalizeBlock", &e))
    }

    fn list_snapshots(&self) -> pb::ResponseListSnapshots {
        pb::ResponseListSnapshots {
            snapshots: Vec::new(),
        }
    }

    fn offer_snapshot(&self, _req: pb::RequestOfferSnapshot) -> pb::ResponseOfferSnapshot {
        // State sync is not offered yet: CometBFT falls back to block sync.
        pb::ResponseOfferSnapshot {
            result: pb::response_offer_snapshot::Result::Reject as i32,
        }
    }
}
