//! Test accounts and a tamperable Cosmos tx builder (SIGN_MODE_DIRECT).

use ballast_framework::Address;
use cosmrs::crypto::secp256k1::SigningKey;
use cosmrs::proto::cosmos::bank::v1beta1::MsgSend;
use cosmrs::proto::cosmos::base::v1beta1::Coin;
use cosmrs::proto::cosmos::tx::signing::v1beta1::SignMode;
use cosmrs::proto::cosmos::tx::v1beta1::{
    mode_info, AuthInfo, Fee, ModeInfo, SignDoc, SignerInfo, TxBody, TxRaw,
};
use cosmrs::Any;
use prost::Message;

/// A funded test account.
pub struct TestAccount {
    /// Its key.
    pub key: SigningKey,
    /// Its address.
    pub address: Address,
    /// Genesis account number.
    pub account_number: u64,
}

impl TestAccount {
    /// A deterministic account from `seed` with the given account number.
    pub fn new(seed: u64, account_number: u64) -> Self {
        let mut sk = [0u8; 32];
        sk[..8].copy_from_slice(&seed.wrapping_add(1).to_be_bytes());
        sk[31] = 1;
        let key = SigningKey::from_slice(&sk).expect("a small non-zero scalar is a valid key");
        let pk = key.public_key().to_bytes();
        TestAccount {
            address: ballast_accounts::pubkey_address(&pk),
            key,
            account_number,
        }
    }

    /// `n` accounts; genesis numbers them from 1 (0 is the fee collector).
    pub fn many(n: usize) -> Vec<TestAccount> {
        (0..n)
            .map(|i| TestAccount::new(i as u64, i as u64 + 1))
            .collect()
    }

    /// The `Any` of this account's public key.
    pub fn pubkey_any(&self) -> Any {
        Any {
            type_url: ballast_accounts::PUBKEY_TYPE_URL.into(),
            value: cosmrs::proto::cosmos::crypto::secp256k1::PubKey {
                key: self.key.public_key().to_bytes(),
            }
            .encode_to_vec(),
        }
    }
}

/// A MsgSend as an `Any`.
pub fn msg_send(from: &Address, to: &Address, amount: &str) -> Any {
    Any {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: MsgSend {
            from_address: from.to_string(),
            to_address: to.to_string(),
            amount: vec![Coin {
                denom: "ubal".into(),
                amount: amount.into(),
            }],
        }
        .encode_to_vec(),
    }
}

/// Every part of a tx, so tests can build valid ones and tamper with any field.
#[derive(Clone)]
pub struct TxSpec {
    /// Messages.
    pub msgs: Vec<Any>,
    /// Memo.
    pub memo: String,
    /// Timeout height (0 = none).
    pub timeout_height: u64,
    /// Fee amount in ubal.
    pub fee: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// Signer sequence.
    pub sequence: u64,
    /// Account number signed over.
    pub account_number: u64,
    /// Chain id signed over.
    pub chain_id: String,
    /// Include the public key in the signer info.
    pub include_pubkey: bool,
}

impl TxSpec {
    /// A MsgSend of `amount` ubal from `from` to `to` with a sufficient fee.
    pub fn send(from: &TestAccount, to: &Address, amount: u128, sequence: u64) -> Self {
        TxSpec {
            msgs: vec![msg_send(&from.address, to, &amount.to_string())],
            memo: String::new(),
            timeout_height: 0,
            fee: 5_000,
            gas_limit: 200_000,
            sequence,
            account_number: from.account_number,
            chain_id: crate::CHAIN_ID.into(),
            include_pubkey: true,
        }
    }

    /// Signs with `key` and encodes the `TxRaw`.
    pub fn sign(&self, key: &TestAccount) -> Vec<u8> {
        let body = TxBody {
            messages: self.msgs.clone(),
            memo: self.memo.clone(),
            timeout_height: self.timeout_height,
            extension_options: vec![],
            non_critical_extension_options: vec![],
        };
        #[allow(deprecated)] // `tip` is deprecated in the Cosmos proto but still a field.
        let auth = AuthInfo {
            signer_infos: vec![SignerInfo {
                public_key: self.include_pubkey.then(|| key.pubkey_any()),
                mode_info: Some(ModeInfo {
                    sum: Some(mode_info::Sum::Single(mode_info::Single {
                        mode: SignMode::Direct as i32,
                    })),
                }),
                sequence: self.sequence,
            }],
            fee: Some(Fee {
                amount: vec![Coin {
                    denom: "ubal".into(),
                    amount: self.fee.to_string(),
                }],
                gas_limit: self.gas_limit,
                payer: String::new(),
                granter: String::new(),
            }),
            tip: None,
        };
        let body_bytes = body.encode_to_vec();
        let auth_info_bytes = auth.encode_to_vec();
        let doc = SignDoc {
            body_bytes: body_bytes.clone(),
            auth_info_bytes: auth_info_bytes.clone(),
            chain_id: self.chain_id.clone(),
            account_number: self.account_number,
        };
        let sig = key
            .key
            .sign(&doc.encode_to_vec())
            .expect("signing with a valid key cannot fail");
        TxRaw {
            body_bytes,
            auth_info_bytes,
            signatures: vec![sig.to_bytes().to_vec()],
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_matches_cosmrs_signing() {
        // The same tx built with cosmrs' own types signs to the same bytes (RFC 6979 is deterministic).
        let a = TestAccount::new(1, 3);
        let to = TestAccount::new(2, 4).address;
        let spec = TxSpec::send(&a, &to, 10, 7);
        let ours = spec.sign(&a);
        let msg = cosmrs::bank::MsgSend {
            from_address: a.address.to_string().parse().unwrap(),
            to_address: to.to_string().parse().unwrap(),
            amount: vec![cosmrs::Coin {
                denom: "ubal".parse().unwrap(),
                amount: 10,
            }],
        };
        let body = cosmrs::tx::Body::new(vec![cosmrs::tx::Msg::to_any(&msg).unwrap()], "", 0u32);
        let auth = cosmrs::tx::SignerInfo::single_direct(Some(a.key.public_key()), 7).auth_info(
            cosmrs::tx::Fee::from_amount_and_gas(
                cosmrs::Coin {
                    denom: "ubal".parse().unwrap(),
                    amount: 5_000,
                },
                200_000u64,
            ),
        );
        let doc =
            cosmrs::tx::SignDoc::new(&body, &auth, &crate::CHAIN_ID.parse().unwrap(), 3).unwrap();
        let theirs = doc.sign(&a.key).unwrap().to_bytes().unwrap();
        assert_eq!(ours, theirs);
    }
}
