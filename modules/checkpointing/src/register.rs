//! `/ballast.checkpointing.v1.MsgRegisterBlsKey`: a validator registers its BLS key.
//!
//! The message carries the key, its proof of possession, and the validator's ed25519
//! consensus public key with a signature over [`registration_sign_bytes`]. Without that
//! signature anyone could register a key of their own for someone else's validator first, and
//! since a key is set once, that validator could then never sign a checkpoint. The consensus
//! key must hash to the validator address (CometBFT: the first 20 bytes of its SHA-256), and
//! the sign bytes name the chain id and the sending account, so a registration cannot be
//! replayed on another chain or by another sender.
//!
//! Decoding checks every field's shape, the key (a G2 subgroup point, not infinity), its proof
//! of possession, and that the consensus key is the validator's. Execution checks the
//! consensus signature (it covers the chain id) and the rules of
//! [`crate::validators::register_bls_key`]: one key per validator, set once, and no key shared
//! by two validators.

use crate::validators::{consensus_address, register_bls_key, ProvenBlsKey};
use crate::CheckpointingError;
use ballast_framework::{
    Address, ConsensusAddress, Event, MsgHandler, StateWrite, TxContext, TxError,
};
use ballast_proto::ballast::checkpointing::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};

/// Domain of the registration sign bytes.
pub const REGISTRATION_DOMAIN: &[u8] = b"ballast/checkpointing/v1/register-bls-key";

/// What the validator's consensus key signs: [`REGISTRATION_DOMAIN`] || u8 length of the chain
/// id || chain id || validator address (20) || BLS public key (96) || sending account (20).
/// Chain ids longer than 255 bytes are cut at 255 bytes (CometBFT allows at most 50).
pub fn registration_sign_bytes(
    chain_id: &str,
    validator: &ConsensusAddress,
    bls_pubkey: &[u8; 96],
    signer: &Address,
) -> Vec<u8> {
    let id = chain_id.as_bytes();
    let id = &id[..id.len().min(255)];
    let mut out = Vec::with_capacity(REGISTRATION_DOMAIN.len() + 1 + id.len() + 136);
    out.extend_from_slice(REGISTRATION_DOMAIN);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&validator.0);
    out.extend_from_slice(bls_pubkey);
    out.extend_from_slice(&signer.0);
    out
}

/// The CometBFT address of an ed25519 consensus key: the first 20 bytes of its SHA-256.
pub fn consensus_key_address(pubkey: &[u8; 32]) -> ConsensusAddress {
    let d = Sha256::digest(pubkey);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    ConsensusAddress(a)
}

/// A decoded, statelessly checked registration.
#[derive(Clone, Debug)]
pub struct MsgRegisterBlsKey {
    /// The sending account (signer).
    pub signer: Address,
    /// The validator.
    pub validator: ConsensusAddress,
    /// The key, with its proof of possession checked.
    pub key: ProvenBlsKey,
    /// The validator's consensus key.
    pub consensus_pubkey: ed25519_consensus::VerificationKey,
    /// Its signature over [`registration_sign_bytes`].
    pub consensus_signature: ed25519_consensus::Signature,
}

impl MsgRegisterBlsKey {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgRegisterBlsKey) -> Result<Self, CheckpointingError> {
        let signer = m
            .signer
            .parse()
            .map_err(CheckpointingError::InvalidSigner)?;
        let validator = consensus_address(&m.validator_address)?;
        let key = ProvenBlsKey::new(&m.bls_pubkey, &m.pop)?;
        let pk: [u8; 32] = m.consensus_pubkey.as_slice().try_into().map_err(|_| {
            CheckpointingError::InvalidConsensusKey(format!(
                "expected a 32-byte ed25519 key, found {} bytes",
                m.consensus_pubkey.len()
            ))
        })?;
        let consensus_pubkey = ed25519_consensus::VerificationKey::try_from(pk).map_err(|e| {
            CheckpointingError::InvalidConsensusKey(format!("not an ed25519 key: {e}"))
        })?;
        let derived = consensus_key_address(&pk);
        if derived != validator {
            return Err(CheckpointingError::InvalidConsensusKey(format!(
                "consensus key has address {}, expected the validator address {}",
                hex::encode(derived.0),
                hex::encode(validator.0)
            )));
        }
        let sig: [u8; 64] = m.consensus_signature.as_slice().try_into().map_err(|_| {
            CheckpointingError::InvalidConsensusKey(format!(
                "expected a 64-byte ed25519 signature, found {} bytes",
                m.consensus_signature.len()
            ))
        })?;
        Ok(MsgRegisterBlsKey {
            signer,
            validator,
            key,
            consensus_pubkey,
            consensus_signature: ed25519_consensus::Signature::from(sig),
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgRegisterBlsKey {
        pb::MsgRegisterBlsKey {
            signer: self.signer.to_string(),
            validator_address: self.validator.0.to_vec(),
            bls_pubkey: self.key.pubkey().to_bytes().to_vec(),
            pop: self.key.pop().to_bytes().to_vec(),
            consensus_pubkey: self.consensus_pubkey.to_bytes().to_vec(),
            consensus_signature: self.consensus_signature.to_bytes().to_vec(),
        }
    }

    /// Checks the consensus signature on `chain_id` and registers the key at `height`.
    pub fn apply<S: StateWrite + ?Sized>(
        &self,
        state: &mut S,
        chain_id: &str,
        height: u64,
    ) -> Result<(), CheckpointingError> {
        let bytes = registration_sign_bytes(
            chain_id,
            &self.validator,
            &self.key.pubkey().to_bytes(),
            &self.signer,
        );
        self.consensus_pubkey
            .verify(&self.consensus_signature, &bytes)
            .map_err(|_| CheckpointingError::InvalidConsensusSignature {
                validator: hex::encode(self.validator.0),
                chain_id: chain_id.to_string(),
            })?;
        register_bls_key(state, self.validator, self.key, height)?;
        Ok(())
    }
}

impl MsgHandler for MsgRegisterBlsKey {
    const TYPE_URL: &'static str = "/ballast.checkpointing.v1.MsgRegisterBlsKey";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m = pb::MsgRegisterBlsKey::decode(value)
            .map_err(|e| CheckpointingError::Decode(e.to_string()))?;
        Ok(MsgRegisterBlsKey::from_proto(&m)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`, which checks everything stateless
        // (including the proof of possession).
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        self.apply(state, &ctx.block.chain_id, ctx.block.height)?;
        state.emit_event(
            Event::new("message")
                .attr("action", Self::TYPE_URL)
                .attr("sender", self.signer)
                .attr("module", crate::MODULE_NAME),
        );
        Ok(())
    }
}
