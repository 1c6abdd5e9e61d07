//! Ballast's own `proto/cosmos/**` definitions encode exactly like the Cosmos SDK v0.50 types
//! (as cosmos-sdk-proto 0.27 generates them): every field of every message is set, encoded with
//! one definition, decoded with the other and re-encoded. A wrong field number or wire type
//! would drop or garble a field (prost skips unknown fields), and the bytes would differ.

#![allow(deprecated)] // Cosmos marks some fields deprecated; they still have to match.

use ballast_proto::cosmos as ours;
use cosmrs::proto::cosmos as theirs;
use prost::Message;

fn same_wire<A: Message + Default, B: Message + Default>(a: &A) {
    let bytes = a.encode_to_vec();
    assert!(!bytes.is_empty(), "{}", std::any::type_name::<A>());
    let b = B::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        b.encode_to_vec(),
        bytes,
        "{} -> {}",
        std::any::type_name::<A>(),
        std::any::type_name::<B>()
    );
    let back = A::decode(b.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back.encode_to_vec(), bytes);
}

fn coin(d: &str, a: &str) -> theirs::base::v1beta1::Coin {
    theirs::base::v1beta1::Coin {
        denom: d.into(),
        amount: a.into(),
    }
}

fn any(url: &str, v: &[u8]) -> cosmrs::Any {
    cosmrs::Any {
        type_url: url.into(),
        value: v.to_vec(),
    }
}

fn event() -> tendermint_proto::v0_38::abci::Event {
    tendermint_proto::v0_38::abci::Event {
        r#type: "transfer".into(),
        attributes: vec![tendermint_proto::v0_38::abci::EventAttribute {
            key: "amount".into(),
            value: "5ubal".into(),
            index: true,
        }],
    }
}

fn page_req() -> theirs::base::query::v1beta1::PageRequest {
    theirs::base::query::v1beta1::PageRequest {
        key: vec![1, 2],
        offset: 3,
        limit: 4,
        count_total: true,
        reverse: true,
    }
}

fn page_resp() -> theirs::base::query::v1beta1::PageResponse {
    theirs::base::query::v1beta1::PageResponse {
        next_key: vec![9],
        total: 77,
    }
}

fn tx_response() -> theirs::base::abci::v1beta1::TxResponse {
    use theirs::base::abci::v1beta1 as a;
    a::TxResponse {
        height: -5,
        txhash: "AB".into(),
        codespace: "sdk".into(),
        code: 32,
        data: "0A".into(),
        raw_log: "log".into(),
        logs: vec![a::AbciMessageLog {
            msg_index: 2,
            log: "l".into(),
            events: vec![a::StringEvent {
                r#type: "t".into(),
                attributes: vec![a::Attribute {
                    key: "k".into(),
                    value: "v".into(),
                }],
            }],
        }],
        info: "i".into(),
        gas_wanted: 200_000,
        gas_used: -1,
        tx: Some(any("/cosmos.tx.v1beta1.Tx", &[1, 2, 3])),
        timestamp: "2023-11-14T22:13:25Z".into(),
        events: vec![event()],
    }
}

fn tx() -> theirs::tx::v1beta1::Tx {
    use theirs::tx::v1beta1 as t;
    t::Tx {
        body: Some(t::TxBody {
            messages: vec![any("/cosmos.bank.v1beta1.MsgSend", &[5])],
            memo: "memo".into(),
            timeout_height: 9,
            extension_options: vec![any("/x", &[1])],
            non_critical_extension_options: vec![any("/y", &[2])],
        }),
        auth_info: Some(t::AuthInfo {
            signer_infos: vec![
                t::SignerInfo {
                    public_key: Some(any("/cosmos.crypto.secp256k1.PubKey", &[7; 35])),
                    mode_info: Some(t::ModeInfo {
                        sum: Some(t::mode_info::Sum::Single(t::mode_info::Single {
                            mode: 127,
                        })),
                    }),
                    sequence: 3,
                },
                t::SignerInfo {
                    public_key: None,
                    mode_info: Some(t::ModeInfo {
                        sum: Some(t::mode_info::Sum::Multi(t::mode_info::Multi {
                            bitarray: Some(theirs::crypto::multisig::v1beta1::CompactBitArray {
                                extra_bits_stored: 3,
                                elems: vec![0b101],
                            }),
                            mode_infos: vec![t::ModeInfo {
                                sum: Some(t::mode_info::Sum::Single(t::mode_info::Single {
                                    mode: 191,
                                })),
                            }],
                        })),
                    }),
                    sequence: 4,
                },
            ],
            fee: Some(t::Fee {
                amount: vec![coin("ubal", "5000")],
                gas_limit: 200_000,
                payer: "p".into(),
                granter: "g".into(),
            }),
            tip: Some(t::Tip {
                amount: vec![coin("ubal", "1")],
                tipper: "tp".into(),
            }),
        }),
        signatures: vec![vec![1; 64], vec![]],
    }
}

#[test]
fn base_bank_auth_and_crypto_types_match() {
    same_wire::<_, ours::base::v1beta1::Coin>(&coin("ubal", "12"));
    same_wire::<_, ours::base::query::v1beta1::PageRequest>(&page_req());
    same_wire::<_, ours::base::query::v1beta1::PageResponse>(&page_resp());

    use theirs::bank::v1beta1 as b;
    same_wire::<_, ours::bank::v1beta1::QueryBalanceRequest>(&b::QueryBalanceRequest {
        address: "a".into(),
        denom: "d".into(),
    });
    same_wire::<_, ours::bank::v1beta1::QueryBalanceResponse>(&b::QueryBalanceResponse {
        balance: Some(coin("ubal", "3")),
    });
    same_wire::<_, ours::bank::v1beta1::QueryAllBalancesRequest>(&b::QueryAllBalancesRequest {
        address: "a".into(),
        pagination: Some(page_req()),
        resolve_denom: true,
    });
    same_wire::<_, ours::bank::v1beta1::QueryAllBalancesResponse>(&b::QueryAllBalancesResponse {
        balances: vec![coin("a", "1"), coin("b", "2")],
        pagination: Some(page_resp()),
    });
    same_wire::<_, ours::bank::v1beta1::QuerySupplyOfRequest>(&b::QuerySupplyOfRequest {
        denom: "d".into(),
    });
    same_wire::<_, ours::bank::v1beta1::QuerySupplyOfResponse>(&b::QuerySupplyOfResponse {
        amount: Some(coin("d", "9")),
    });
    same_wire::<_, ours::bank::v1beta1::MsgSend>(&b::MsgSend {
        from_address: "f".into(),
        to_address: "t".into(),
        amount: vec![coin("ubal", "1")],
    });

    use theirs::auth::v1beta1 as a;
    same_wire::<_, ours::auth::v1beta1::QueryAccountRequest>(&a::QueryAccountRequest {
        address: "a".into(),
    });
    same_wire::<_, ours::auth::v1beta1::QueryAccountResponse>(&a::QueryAccountResponse {
        account: Some(any("/cosmos.auth.v1beta1.BaseAccount", &[1])),
    });
    same_wire::<_, ours::auth::v1beta1::BaseAccount>(&a::BaseAccount {
        address: "a".into(),
        pub_key: Some(any("/k", &[2])),
        account_number: 5,
        sequence: 6,
    });
    same_wire::<_, ours::crypto::secp256k1::PubKey>(&theirs::crypto::secp256k1::PubKey {
        key: vec![2; 33],
    });
    same_wire::<_, ours::crypto::multisig::v1beta1::MultiSignature>(
        &theirs::crypto::multisig::v1beta1::MultiSignature {
            signatures: vec![vec![1], vec![2]],
        },
    );
    same_wire::<_, ballast_proto::tendermint::abci::Event>(&event());
}

#[test]
fn abci_result_types_match() {
    use theirs::base::abci::v1beta1 as a;
    same_wire::<_, ours::base::abci::v1beta1::TxResponse>(&tx_response());
    same_wire::<_, ours::base::abci::v1beta1::GasInfo>(&a::GasInfo {
        gas_wanted: 1,
        gas_used: 2,
    });
    let result = a::Result {
        data: vec![1],
        log: "l".into(),
        events: vec![event()],
        msg_responses: vec![any("/r", &[3])],
    };
    same_wire::<_, ours::base::abci::v1beta1::Result>(&result);
    same_wire::<_, ours::base::abci::v1beta1::SimulationResponse>(&a::SimulationResponse {
        gas_info: Some(a::GasInfo {
            gas_wanted: 1,
            gas_used: 2,
        }),
        result: Some(result),
    });
    same_wire::<_, ours::base::abci::v1beta1::TxMsgData>(&a::TxMsgData {
        data: vec![a::MsgData {
            msg_type: "m".into(),
            data: vec![4],
        }],
        msg_responses: vec![any("/r", &[5])],
    });
}

#[test]
fn tx_types_and_service_messages_match() {
    use theirs::tx::v1beta1 as t;
    same_wire::<_, ours::tx::v1beta1::Tx>(&tx());
    let full = tx();
    same_wire::<_, ours::tx::v1beta1::TxRaw>(&t::TxRaw {
        body_bytes: full.body.as_ref().unwrap().encode_to_vec(),
        auth_info_bytes: full.auth_info.as_ref().unwrap().encode_to_vec(),
        signatures: full.signatures.clone(),
    });
    same_wire::<_, ours::tx::v1beta1::SignDoc>(&t::SignDoc {
        body_bytes: vec![1],
        auth_info_bytes: vec![2],
        chain_id: "c".into(),
        account_number: 3,
    });
    same_wire::<_, ours::tx::v1beta1::GetTxsEventRequest>(&t::GetTxsEventRequest {
        events: vec!["e".into()],
        pagination: Some(page_req()),
        order_by: 2,
        page: 3,
        limit: 4,
        query: "q".into(),
    });
    same_wire::<_, ours::tx::v1beta1::GetTxsEventResponse>(&t::GetTxsEventResponse {
        txs: vec![tx()],
        tx_responses: vec![tx_response()],
        pagination: Some(page_resp()),
        total: 8,
    });
    same_wire::<_, ours::tx::v1beta1::BroadcastTxRequest>(&t::BroadcastTxRequest {
        tx_bytes: vec![1, 2],
        mode: 3,
    });
    same_wire::<_, ours::tx::v1beta1::BroadcastTxResponse>(&t::BroadcastTxResponse {
        tx_response: Some(tx_response()),
    });
    same_wire::<_, ours::tx::v1beta1::SimulateRequest>(&t::SimulateRequest {
        tx: Some(tx()),
        tx_bytes: vec![9],
    });
    same_wire::<_, ours::tx::v1beta1::SimulateResponse>(&t::SimulateResponse {
        gas_info: Some(theirs::base::abci::v1beta1::GasInfo {
            gas_wanted: 5,
            gas_used: 6,
        }),
        result: Some(theirs::base::abci::v1beta1::Result {
            data: vec![],
            log: "x".into(),
            events: vec![event()],
            msg_responses: vec![],
        }),
    });
    same_wire::<_, ours::tx::v1beta1::GetTxRequest>(&t::GetTxRequest { hash: "AB".into() });
    same_wire::<_, ours::tx::v1beta1::GetTxResponse>(&t::GetTxResponse {
        tx: Some(tx()),
        tx_response: Some(tx_response()),
    });
    same_wire::<_, ours::tx::v1beta1::TxDecodeRequest>(&t::TxDecodeRequest { tx_bytes: vec![1] });
    same_wire::<_, ours::tx::v1beta1::TxDecodeResponse>(&t::TxDecodeResponse { tx: Some(tx()) });
    same_wire::<_, ours::tx::v1beta1::TxEncodeRequest>(&t::TxEncodeRequest { tx: Some(tx()) });
    same_wire::<_, ours::tx::v1beta1::TxEncodeResponse>(&t::TxEncodeResponse { tx_bytes: vec![1] });
    same_wire::<_, ours::tx::v1beta1::TxEncodeAminoRequest>(&t::TxEncodeAminoRequest {
        amino_json: "{}".into(),
    });
    same_wire::<_, ours::tx::v1beta1::TxEncodeAminoResponse>(&t::TxEncodeAminoResponse {
        amino_binary: vec![1],
    });
    same_wire::<_, ours::tx::v1beta1::TxDecodeAminoRequest>(&t::TxDecodeAminoRequest {
        amino_binary: vec![1],
    });
    same_wire::<_, ours::tx::v1beta1::TxDecodeAminoResponse>(&t::TxDecodeAminoResponse {
        amino_json: "{}".into(),
    });
}

#[test]
fn enum_values_match() {
    use ours::tx::signing::v1beta1::SignMode as O;
    use theirs::tx::signing::v1beta1::SignMode as T;
    for (o, t) in [
        (O::Unspecified, T::Unspecified),
        (O::Direct, T::Direct),
        (O::Textual, T::Textual),
        (O::DirectAux, T::DirectAux),
        (O::LegacyAminoJson, T::LegacyAminoJson),
        (O::Eip191, T::Eip191),
    ] {
        assert_eq!(o as i32, t as i32);
        assert_eq!(o.as_str_name(), t.as_str_name());
    }
    use ours::tx::v1beta1::BroadcastMode as OB;
    use theirs::tx::v1beta1::BroadcastMode as TB;
    for (o, t) in [
        (OB::Unspecified, TB::Unspecified),
        (OB::Block, TB::Block),
        (OB::Sync, TB::Sync),
        (OB::Async, TB::Async),
    ] {
        assert_eq!((o as i32, o.as_str_name()), (t as i32, t.as_str_name()));
    }
    use ours::tx::v1beta1::OrderBy as OO;
    use theirs::tx::v1beta1::OrderBy as TO;
    for (o, t) in [
        (OO::Unspecified, TO::Unspecified),
        (OO::Asc, TO::Asc),
        (OO::Desc, TO::Desc),
    ] {
        assert_eq!((o as i32, o.as_str_name()), (t as i32, t.as_str_name()));
    }
}
