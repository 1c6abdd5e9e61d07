//! CometBFT v0.38 blocks as the dev chain builds them: real headers whose hash is
//! `Header::hash()`, part set headers over the block's protobuf encoding, and commits signed by
//! the dev validator over the canonical vote sign bytes. Every hash here is the one CometBFT
//! computes (the unit tests check them against blocks a real CometBFT v0.38 node produced).

use prost::bytes::Bytes;
use prost::Message;
use tendermint::block::{self, parts, Commit, CommitSig, Header};
use tendermint::crypto::default::Sha256;
use tendermint::merkle::simple_hash_from_byte_vectors;
use tendermint::vote::{self, Vote};
use tendermint::{account, chain, consensus, AppHash, Block, Hash, Signature, Time};
use tendermint_proto::v0_38::abci as pb;
use tendermint_proto::v0_38::types as raw;

/// The block protocol version of CometBFT v0.38.
pub const BLOCK_PROTOCOL: u64 = 11;

/// CometBFT's block part size (64 KiB).
pub const BLOCK_PART_SIZE: usize = 65536;

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

fn merkle(items: &[impl AsRef<[u8]>]) -> Hash {
    Hash::Sha256(simple_hash_from_byte_vectors::<Sha256>(items))
}

/// The block's data hash: the Merkle root of the SHA-256 of each tx.
pub fn data_hash(txs: &[Bytes]) -> Hash {
    let leaves: Vec<[u8; 32]> = txs.iter().map(|t| sha256(t)).collect();
    merkle(&leaves)
}

/// The hash of a block's results, as the next header's `last_results_hash`: the Merkle root of
/// each result's deterministic part (code, data, gas wanted, gas used).
pub fn results_hash(results: &[pb::ExecTxResult]) -> Hash {
    let leaves: Vec<Vec<u8>> = results
        .iter()
        .map(|r| {
            pb::ExecTxResult {
                code: r.code,
                data: r.data.clone(),
                gas_wanted: r.gas_wanted,
                gas_used: r.gas_used,
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect();
    merkle(&leaves)
}

/// A commit's hash, as the next header's `last_commit_hash`: the Merkle root of each
/// signature's protobuf encoding.
pub fn commit_hash(c: &Commit) -> Hash {
    let leaves: Vec<Vec<u8>> = c
        .signatures
        .iter()
        .map(|s| raw::CommitSig::from(s.clone()).encode_to_vec())
        .collect();
    merkle(&leaves)
}

/// The hash of the consensus parameters a header commits to (block max bytes and max gas).
pub fn consensus_hash(p: &consensus::Params) -> Hash {
    let hp = raw::HashedParams {
        block_max_bytes: i64::try_from(p.block.max_bytes).unwrap_or(i64::MAX),
        block_max_gas: p.block.max_gas,
    };
    Hash::Sha256(sha256(&hp.encode_to_vec()))
}

/// The evidence hash of a block without evidence.
pub fn empty_evidence_hash() -> Hash {
    let none: [&[u8]; 0] = [];
    merkle(&none)
}

/// The protobuf form of a block exactly as CometBFT encodes it: the first block carries an
/// empty last commit and an empty last block id rather than none (Go always encodes these
/// non-nullable fields).
pub fn raw_block(b: &Block) -> raw::Block {
    let mut r: raw::Block = b.clone().into();
    if r.last_commit.is_none() {
        r.last_commit = Some(Commit::default().into());
    }
    if let Some(h) = r.header.as_mut() {
        if h.last_block_id.is_none() {
            h.last_block_id = Some(block::Id::default().into());
        }
    }
    r
}

/// The part set header of a block: its protobuf encoding cut into 64 KiB parts, and the
/// Merkle root of the parts.
pub fn part_set_header(b: &Block) -> parts::Header {
    let bytes = raw_block(b).encode_to_vec();
    let chunks: Vec<&[u8]> = bytes.chunks(BLOCK_PART_SIZE).collect();
    let total = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    parts::Header::new(total, merkle(&chunks))
        .expect("a part set header with at least one part and a hash is valid")
}

/// What a new block is built from.
#[derive(Clone, Debug)]
pub struct BlockInput<'a> {
    /// Chain id.
    pub chain_id: &'a chain::Id,
    /// App protocol version.
    pub app_version: u64,
    /// Height.
    pub height: i64,
    /// Block time.
    pub time: Time,
    /// The previous block's id (none for the first block).
    pub last_block_id: Option<block::Id>,
    /// The previous block's commit (none for the first block).
    pub last_commit: Option<&'a Commit>,
    /// The txs.
    pub txs: &'a [Bytes],
    /// Hash of the validator set (also the next set: the dev set never changes).
    pub validators_hash: Hash,
    /// Hash of the consensus parameters.
    pub consensus_hash: Hash,
    /// The app hash after the previous block (genesis app hash for the first block).
    pub app_hash: &'a [u8],
    /// Hash of the previous block's results.
    pub last_results_hash: Hash,
    /// Proposer address.
    pub proposer: account::Id,
}

/// Builds a block and its id (header hash and part set header).
pub fn build_block(i: &BlockInput<'_>) -> Result<(Block, block::Id), String> {
    let last_commit_hash = match i.last_commit {
        Some(c) => commit_hash(c),
        None => commit_hash(&Commit::default()),
    };
    let header = Header {
        version: block::header::Version {
            block: BLOCK_PROTOCOL,
            app: i.app_version,
        },
        chain_id: i.chain_id.clone(),
        height: block::Height::try_from(i.height).map_err(|e| format!("height: {e}"))?,
        time: i.time,
        last_block_id: i.last_block_id,
        last_commit_hash: Some(last_commit_hash),
        data_hash: Some(data_hash(i.txs)),
        validators_hash: i.validators_hash,
        next_validators_hash: i.validators_hash,
        consensus_hash: i.consensus_hash,
        app_hash: AppHash::try_from(i.app_hash.to_vec()).map_err(|e| format!("app hash: {e}"))?,
        last_results_hash: Some(i.last_results_hash),
        evidence_hash: Some(empty_evidence_hash()),
        proposer_address: i.proposer,
    };
    let block = Block::new(
        header,
        i.txs.iter().map(|t| t.to_vec()).collect(),
        Default::default(),
        i.last_commit.cloned(),
    );
    let id = block::Id {
        hash: block.header.hash(),
        part_set_header: part_set_header(&block),
    };
    Ok((block, id))
}

/// The canonical sign bytes of a precommit for `block_id`.
pub fn precommit_sign_bytes(
    chain_id: &chain::Id,
    height: i64,
    block_id: block::Id,
    timestamp: Time,
    validator: account::Id,
) -> Result<Vec<u8>, String> {
    let vote = Vote {
        vote_type: vote::Type::Precommit,
        height: block::Height::try_from(height).map_err(|e| format!("height: {e}"))?,
        round: block::Round::default(),
        block_id: Some(block_id),
        timestamp: Some(timestamp),
        validator_address: validator,
        validator_index: vote::ValidatorIndex::try_from(0u32)
            .expect("0 is a valid validator index"),
        signature: None,
        extension: Vec::new(),
        extension_signature: None,
    };
    Ok(vote.into_signable_vec(chain_id.clone()))
}

/// The canonical sign bytes of a vote extension.
pub fn extension_sign_bytes(chain_id: &chain::Id, height: i64, extension: &[u8]) -> Vec<u8> {
    raw::CanonicalVoteExtension {
        extension: extension.to_vec(),
        height,
        round: 0,
        chain_id: chain_id.to_string(),
    }
    .encode_length_delimited_to_vec()
}

/// The commit of the dev validator for `block_id` at `height`, signed at `timestamp`.
pub fn sign_commit(
    key: &ed25519_consensus::SigningKey,
    chain_id: &chain::Id,
    height: i64,
    block_id: block::Id,
    timestamp: Time,
    validator: account::Id,
) -> Result<Commit, String> {
    let bytes = precommit_sign_bytes(chain_id, height, block_id, timestamp, validator)?;
    let sig = key.sign(&bytes);
    Ok(Commit {
        height: block::Height::try_from(height).map_err(|e| format!("height: {e}"))?,
        round: block::Round::default(),
        block_id,
        signatures: vec![CommitSig::BlockIdFlagCommit {
            validator_address: validator,
            timestamp,
            signature: Signature::new(sig.to_bytes()).map_err(|e| format!("signature: {e}"))?,
        }],
    })
}

/// Checks every signature of a commit against the validators' keys.
pub fn verify_commit(
    chain_id: &chain::Id,
    commit: &Commit,
    validators: &[tendermint::validator::Info],
) -> Result<(), String> {
    for s in &commit.signatures {
        let CommitSig::BlockIdFlagCommit {
            validator_address,
            timestamp,
            signature: Some(signature),
        } = s
        else {
            return Err("commit signature is not a signed commit vote".into());
        };
        let v = validators
            .iter()
            .find(|v| v.address == *validator_address)
            .ok_or_else(|| format!("unknown validator {validator_address}"))?;
        let bytes = precommit_sign_bytes(
            chain_id,
            i64::from(commit.height),
            commit.block_id,
            *timestamp,
            *validator_address,
        )?;
        let pk = v
            .pub_key
            .ed25519()
            .ok_or_else(|| "validator key is not ed25519".to_string())?;
        let vk = ed25519_consensus::VerificationKey::try_from(pk.as_bytes())
            .map_err(|e| format!("validator key: {e}"))?;
        let sig_bytes: [u8; 64] = signature
            .as_bytes()
            .try_into()
            .map_err(|_| "signature is not 64 bytes".to_string())?;
        vk.verify(&ed25519_consensus::Signature::from(sig_bytes), &bytes)
            .map_err(|e| format!("signature of {validator_address} does not verify: {e}"))?;
    }
    Ok(())
}

/// A Merkle inclusion proof of the tx at `index` in a block's data hash.
pub fn tx_proof(txs: &[Bytes], index: usize) -> Option<tendermint::tx::Proof> {
    use tendermint::merkle::MerkleHash;
    let leaves: Vec<[u8; 32]> = txs.iter().map(|t| sha256(t)).collect();
    let tx = txs.get(index)?;
    let mut hasher = Sha256::default();
    let leaf_hash = hasher.leaf_hash(leaves.get(index)?);
    // Collect the sibling subtree roots from the leaf up, as CometBFT's proofs list them.
    let mut aunts = Vec::new();
    fn walk(
        h: &mut Sha256,
        items: &[[u8; 32]],
        index: usize,
        aunts: &mut Vec<tendermint::merkle::Hash>,
    ) {
        if items.len() <= 1 {
            return;
        }
        let split = items.len().next_power_of_two() / 2;
        if index < split {
            walk(h, &items[..split], index, aunts);
            aunts.push(h.hash_byte_vectors(&items[split..]));
        } else {
            walk(h, &items[split..], index - split, aunts);
            aunts.push(h.hash_byte_vectors(&items[..split]));
        }
    }
    walk(&mut hasher, &leaves, index, &mut aunts);
    Some(tendermint::tx::Proof {
        root_hash: merkle(&leaves),
        data: tx.to_vec(),
        proof: tendermint::merkle::Proof {
            total: u64::try_from(leaves.len()).ok()?,
            index: u64::try_from(index).ok()?,
            leaf_hash: Hash::Sha256(leaf_hash),
            aunts: aunts.into_iter().map(Hash::Sha256).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Blocks 1 and 10 of a single-validator chain run by a real CometBFT v0.38 node (the
    // kvstore fixtures the tendermint-rpc crate tests against), as `block` returned them.
    const BLOCK_1: &str = r#"{"block":{"data":{"txs":[]},"evidence":{"evidence":[]},"header":{"app_hash":"0000000000000000","chain_id":"dockerchain","consensus_hash":"048091BC7DDC283F77BFBF91D73C44DA58C3DF8A9CBC867405D8B7F3DAADA22F","data_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","evidence_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","height":"1","last_block_id":{"hash":"","parts":{"hash":"","total":0}},"last_commit_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","last_results_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","next_validators_hash":"33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E","proposer_address":"2DD9F44FD9067555C322243C3C913BA7B51D2BE0","time":"2023-05-17T14:12:48.347696215Z","validators_hash":"33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E","version":{"app":"1","block":"11"}},"last_commit":{"block_id":{"hash":"","parts":{"hash":"","total":0}},"height":"0","round":0,"signatures":[]}},"block_id":{"hash":"6CD5CF4E23A49D9BC073D6F305D29D1B8B5193B534C237696D42FEA5AFBCD520","parts":{"hash":"F021777213F7EF77494C9B5C11D246A6F532DA146D205422D1FB85600F6B479C","total":1}}}"#;
    const BLOCK_10: &str = r#"{"block":{"data":{"txs":[]},"evidence":{"evidence":[]},"header":{"app_hash":"0000000000000000","chain_id":"dockerchain","consensus_hash":"048091BC7DDC283F77BFBF91D73C44DA58C3DF8A9CBC867405D8B7F3DAADA22F","data_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","evidence_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","height":"10","last_block_id":{"hash":"678A83FB0422D053A3792154703122861DD68ABB8247A4FF2945DF832DB18FC8","parts":{"hash":"29FE32F6B57D8439C9E9F6240B436DD560646FDA8C8C105E2C261B6F4746E89C","total":1}},"last_commit_hash":"A3AD467820428D99FD53BFCF38CDC1EB141DD27E3B5F0F3931BBE91FBA8B097D","last_results_hash":"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","next_validators_hash":"33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E","proposer_address":"2DD9F44FD9067555C322243C3C913BA7B51D2BE0","time":"2023-05-17T14:12:53.088875124Z","validators_hash":"33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E","version":{"app":"1","block":"11"}},"last_commit":{"block_id":{"hash":"678A83FB0422D053A3792154703122861DD68ABB8247A4FF2945DF832DB18FC8","parts":{"hash":"29FE32F6B57D8439C9E9F6240B436DD560646FDA8C8C105E2C261B6F4746E89C","total":1}},"height":"9","round":0,"signatures":[{"block_id_flag":2,"signature":"BMy5pB3a9xeEnuBkja/a6GUvP1guZ2lMQtZYvdrl8s0ri1/LaF0JuI9rOsy1biVTv+TDKzlBXTZ5gdgiq0uCAg==","timestamp":"2023-05-17T14:12:53.088875124Z","validator_address":"2DD9F44FD9067555C322243C3C913BA7B51D2BE0"}]}},"block_id":{"hash":"00ECDAC463C201ECD4BDBBAAE4A53A4C80291D4051FD69ED97F6420CE1388BFE","parts":{"hash":"FF0A320E696FD233DD4D3CC7CD82FF90F54B8FDBC9C700D9375C95A02782B062","total":1}}}"#;
    const VALIDATOR_KEY: &str = "bNNlGls5R25wC3Sd8720F/3+7IZBhXcD22MNFtPk/v0=";

    fn parse(s: &str) -> (Block, block::Id) {
        let r: tendermint_rpc::endpoint::block::Response = serde_json::from_str(s).unwrap();
        (r.block, r.block_id)
    }

    fn validator() -> tendermint::validator::Info {
        use base64::Engine;
        let pk = base64::engine::general_purpose::STANDARD
            .decode(VALIDATOR_KEY)
            .unwrap();
        tendermint::validator::Info::new(
            tendermint::PublicKey::from_raw_ed25519(&pk).unwrap(),
            10u32.into(),
        )
    }

    #[test]
    fn hashes_match_blocks_from_a_real_cometbft_node() {
        for s in [BLOCK_1, BLOCK_10] {
            let (b, id) = parse(s);
            assert_eq!(b.header.hash(), id.hash);
            assert_eq!(part_set_header(&b), id.part_set_header, "part set header");
            assert_eq!(Some(data_hash(&[])), b.header.data_hash);
            assert_eq!(Some(results_hash(&[])), b.header.last_results_hash);
            assert_eq!(Some(empty_evidence_hash()), b.header.evidence_hash);
            let commit = b.last_commit.clone().unwrap_or_default();
            assert_eq!(Some(commit_hash(&commit)), b.header.last_commit_hash);
            let params = consensus::Params {
                block: block::Size {
                    max_bytes: 22_020_096,
                    max_gas: -1,
                    time_iota_ms: 1000,
                },
                evidence: tendermint::evidence::Params {
                    max_age_num_blocks: 100_000,
                    max_age_duration: tendermint::evidence::Duration(
                        std::time::Duration::from_secs(172_800),
                    ),
                    max_bytes: 1_048_576,
                },
                validator: consensus::params::ValidatorParams {
                    pub_key_types: vec![tendermint::public_key::Algorithm::Ed25519],
                },
                version: None,
                abci: Default::default(),
            };
            assert_eq!(consensus_hash(&params), b.header.consensus_hash);
            let set = tendermint::validator::Set::new(vec![validator()], None);
            assert_eq!(set.hash(), b.header.validators_hash);
            assert_eq!(validator().address, b.header.proposer_address);
        }
    }

    #[test]
    fn a_real_cometbft_commit_signature_verifies_over_our_sign_bytes() {
        let (b, _) = parse(BLOCK_10);
        let commit = b.last_commit.unwrap();
        verify_commit(&b.header.chain_id, &commit, &[validator()]).unwrap();
        // One bit off and it does not.
        let mut wrong = commit.clone();
        wrong.height = 8u32.into();
        assert!(verify_commit(&b.header.chain_id, &wrong, &[validator()]).is_err());
    }

    #[test]
    fn built_blocks_chain_and_their_commits_verify() {
        let key = ed25519_consensus::SigningKey::from([7u8; 32]);
        let pk =
            tendermint::PublicKey::from_raw_ed25519(key.verification_key().as_bytes()).unwrap();
        let v = tendermint::validator::Info::new(pk, 10u32.into());
        let chain_id: chain::Id = "dev-chain".parse().unwrap();
        let set_hash = tendermint::validator::Set::new(vec![v.clone()], None).hash();
        let txs = [Bytes::from_static(b"a"), Bytes::from_static(b"bb")];
        let t0 = Time::from_unix_timestamp(1_700_000_000, 0).unwrap();
        let (b1, id1) = build_block(&BlockInput {
            chain_id: &chain_id,
            app_version: 1,
            height: 1,
            time: t0,
            last_block_id: None,
            last_commit: None,
            txs: &txs,
            validators_hash: set_hash,
            consensus_hash: Hash::Sha256([1; 32]),
            app_hash: &[9; 32],
            last_results_hash: results_hash(&[]),
            proposer: v.address,
        })
        .unwrap();
        assert_eq!(b1.header.hash(), id1.hash);
        assert_eq!(b1.header.data_hash, Some(data_hash(&txs)));
        let c1 = sign_commit(&key, &chain_id, 1, id1, t0, v.address).unwrap();
        verify_commit(&chain_id, &c1, std::slice::from_ref(&v)).unwrap();
        let (b2, id2) = build_block(&BlockInput {
            chain_id: &chain_id,
            app_version: 1,
            height: 2,
            time: t0,
            last_block_id: Some(id1),
            last_commit: Some(&c1),
            txs: &[],
            validators_hash: set_hash,
            consensus_hash: Hash::Sha256([1; 32]),
            app_hash: &[8; 32],
            last_results_hash: results_hash(&[]),
            proposer: v.address,
        })
        .unwrap();
        assert_eq!(b2.header.last_block_id, Some(id1));
        assert_eq!(b2.header.last_commit_hash, Some(commit_hash(&c1)));
        assert_ne!(id1.hash, id2.hash);
        // The block survives its protobuf form (what the store keeps).
        let back = Block::try_from(raw_block(&b2)).unwrap();
        assert_eq!(back.header.hash(), id2.hash);
    }

    #[test]
    fn tx_proofs_lead_to_the_data_hash() {
        use tendermint::merkle::MerkleHash;
        for n in 1..=7usize {
            let txs: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![i as u8; i + 1])).collect();
            let root = data_hash(&txs);
            for i in 0..n {
                let p = tx_proof(&txs, i).unwrap();
                assert_eq!(p.root_hash, root);
                // Fold the aunts back up to the root, as a verifier would.
                let mut h = Sha256::default();
                let mut acc = p.proof.leaf_hash.as_bytes().try_into().unwrap();
                let (mut idx, mut total) = (i, n);
                let mut aunts = p.proof.aunts.iter();
                // Walk down recording the path, then apply aunts bottom-up.
                let mut path = Vec::new();
                while total > 1 {
                    let split = total.next_power_of_two() / 2;
                    if idx < split {
                        path.push(true);
                        total = split;
                    } else {
                        path.push(false);
                        idx -= split;
                        total -= split;
                    }
                }
                for left in path.into_iter().rev() {
                    let aunt: [u8; 32] = aunts.next().unwrap().as_bytes().try_into().unwrap();
                    acc = if left {
                        h.inner_hash(acc, aunt)
                    } else {
                        h.inner_hash(aunt, acc)
                    };
                }
                assert!(aunts.next().is_none());
                assert_eq!(Hash::Sha256(acc), root, "tx {i} of {n}");
            }
        }
        assert!(tx_proof(&[], 0).is_none());
    }
}
