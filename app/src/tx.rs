//! The transaction pipeline: decode a Cosmos `TxRaw` (SIGN_MODE_DIRECT), check it statelessly,
//! then verify signatures, sequences and the fee and execute every message on an overlay.

use crate::hooks::INJECTED_TX_PREFIX;
use ballast_accounts::{bank, AccountsRead, Coin, Coins, Params, PubKey};
use ballast_framework::{
    sdk, Address, BlockContext, Changes, Event, GasMeter, Metered, Module, Msg, Overlay, StateRead,
    StateWrite, TxContext, TxError,
};
use cosmrs::proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use cosmrs::proto::cosmos::tx::signing::v1beta1::SignMode;
use cosmrs::proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, ModeInfo, SignDoc, TxBody, TxRaw};
use prost::Message;
use sha2::{Digest, Sha256};

/// A tx that passed every stateless check.
#[derive(Debug)]
pub struct CheckedTx {
    /// SHA-256 of the tx bytes (the CometBFT tx hash).
    pub hash: [u8; 32],
    /// Encoded length.
    pub len: usize,
    /// Bytes charged as tx size: `len`, or in a simulation the size the tx will have once it is
    /// signed and carries its fee (see [`simulate`]).
    size_for_gas: usize,
    body_bytes: Vec<u8>,
    auth_info_bytes: Vec<u8>,
    signatures: Vec<Vec<u8>>,
    signer_infos: Vec<SignerInfo>,
    /// Signers in order of first appearance across messages; the first pays the fee.
    pub signers: Vec<Address>,
    /// The decoded messages.
    pub msgs: Vec<Box<dyn Msg>>,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee in the fee denom.
    pub fee: Coin,
    /// 0 = none.
    pub timeout_height: u64,
}

#[derive(Debug)]
struct SignerInfo {
    pubkey: Option<PubKey>,
    sequence: u64,
}

fn err(code: u32, log: impl Into<String>) -> TxError {
    TxError::new(sdk::CODESPACE, code, log)
}

/// SHA-256 of the tx bytes.
pub fn tx_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether a tx is checked for execution (CheckTx, FinalizeBlock) or for a gas estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every check, the signature included.
    Execute,
    /// As `Execute`, except: the signature is not verified (its gas is still charged), the sign
    /// mode may be UNSPECIFIED, the gas limit may be 0 and the fee may be below the minimum.
    Simulate,
}

/// Decodes and checks a tx without state (params come from the state the caller reads).
pub fn decode_and_check(
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
) -> Result<CheckedTx, TxError> {
    decode_and_check_in(bytes, params, modules, Mode::Execute)
}

fn decode_and_check_in(
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
    mode: Mode,
) -> Result<CheckedTx, TxError> {
    let max = usize::try_from(params.max_tx_bytes).unwrap_or(usize::MAX);
    if bytes.len() > max {
        return Err(err(
            sdk::TX_TOO_LARGE,
            format!("tx is {} bytes, the maximum is {max}", bytes.len()),
        ));
    }
    if bytes.is_empty() {
        return Err(err(sdk::TX_DECODE, "empty tx"));
    }
    if bytes[0] == INJECTED_TX_PREFIX {
        return Err(err(
            sdk::TX_DECODE,
            "tx starts with the injected-tx prefix; only proposers inject txs",
        ));
    }
    let raw =
        TxRaw::decode(bytes).map_err(|e| err(sdk::TX_DECODE, format!("tx is not a TxRaw: {e}")))?;
    let body = TxBody::decode(raw.body_bytes.as_slice())
        .map_err(|e| err(sdk::TX_DECODE, format!("tx body: {e}")))?;
    let auth = AuthInfo::decode(raw.auth_info_bytes.as_slice())
        .map_err(|e| err(sdk::TX_DECODE, format!("auth info: {e}")))?;

    if body.messages.is_empty() {
        return Err(err(sdk::INVALID_REQUEST, "tx has no messages"));
    }
    if body.messages.len() as u64 > params.max_msgs_per_tx {
        return Err(err(
            sdk::INVALID_REQUEST,
            format!(
                "tx has {} messages, the maximum is {}",
                body.messages.len(),
                params.max_msgs_per_tx
            ),
        ));
    }
    if body.memo.chars().count() as u64 > params.max_memo_chars {
        return Err(err(
            sdk::MEMO_TOO_LARGE,
            format!("memo is longer than {} characters", params.max_memo_chars),
        ));
    }
    if !body.extension_options.is_empty() || !body.non_critical_extension_options.is_empty() {
        return Err(err(
            sdk::UNKNOWN_EXTENSION_OPTIONS,
            "extension options are not supported",
        ));
    }

    let mut msgs: Vec<Box<dyn Msg>> = Vec::with_capacity(body.messages.len());
    let mut signers: Vec<Address> = Vec::new();
    for any in &body.messages {
        let any = prost_types::Any {
            type_url: any.type_url.clone(),
            value: any.value.clone(),
        };
        let msg = modules
            .iter()
            .find_map(|m| m.decode_msg(&any))
            .ok_or_else(|| {
                err(
                    sdk::UNKNOWN_REQUEST,
                    format!("unknown message type {:?}", any.type_url),
                )
            })??;
        msg.check_stateless()
            .map_err(|e| e.context(format!("message {}", msg.type_url())))?;
        for s in msg.signers() {
            if !signers.contains(&s) {
                signers.push(s);
            }
        }
        msgs.push(msg);
    }

    if raw.signatures.is_empty() {
        return Err(err(sdk::NO_SIGNATURES, "tx has no signatures"));
    }
    if raw.signatures.len() != auth.signer_infos.len() {
        return Err(err(
            sdk::UNAUTHORIZED,
            format!(
                "{} signatures for {} signer infos",
                raw.signatures.len(),
                auth.signer_infos.len()
            ),
        ));
    }
    if raw.signatures.len() != signers.len() {
        let code = if raw.signatures.len() > signers.len() {
            sdk::TOO_MANY_SIGNATURES
        } else {
            sdk::UNAUTHORIZED
        };
        return Err(err(
            code,
            format!(
                "{} signatures for {} signers",
                raw.signatures.len(),
                signers.len()
            ),
        ));
    }
    let mut signer_infos = Vec::with_capacity(auth.signer_infos.len());
    for (i, si) in auth.signer_infos.iter().enumerate() {
        let accepted = match si.mode_info.as_ref().and_then(|m| m.sum.as_ref()) {
            Some(mode_info::Sum::Single(s)) => {
                s.mode == SignMode::Direct as i32
                    || (mode == Mode::Simulate && s.mode == SignMode::Unspecified as i32)
            }
            _ => false,
        };
        if !accepted {
            return Err(err(
                sdk::NOT_SUPPORTED,
                format!("signer {i}: only SIGN_MODE_DIRECT is supported"),
            ));
        }
        let pubkey = match &si.public_key {
            None => None,
            Some(any) => Some(
                PubKey::from_any(&any.type_url, &any.value)
                    .map_err(|e| TxError::from(e).context(format!("signer {i}")))?,
            ),
        };
        if let Some(pk) = &pubkey {
            if pk.address() != signers[i] {
                return Err(err(
                    sdk::INVALID_PUBKEY,
                    format!(
                        "signer {i}: public key belongs to {}, not {}",
                        pk.address(),
                        signers[i]
                    ),
                ));
            }
        }
        signer_infos.push(SignerInfo {
            pubkey,
            sequence: si.sequence,
        });
    }

    let fee = auth.fee.clone().unwrap_or_default();
    let zero_gas_ok = mode == Mode::Simulate && fee.gas_limit == 0;
    if (fee.gas_limit == 0 && !zero_gas_ok) || fee.gas_limit > params.max_tx_gas {
        return Err(err(
            sdk::INVALID_GAS_LIMIT,
            format!(
                "gas limit {} is not in 1..={}",
                fee.gas_limit, params.max_tx_gas
            ),
        ));
    }
    if !fee.payer.is_empty() || !fee.granter.is_empty() {
        return Err(err(
            sdk::INVALID_REQUEST,
            "fee payer and fee granter are not supported; the first signer pays",
        ));
    }
    let fee_coins = Coins::from_proto(&fee.amount)?;
    if let Some(other) = fee_coins.iter().find(|c| c.denom != params.fee_denom) {
        return Err(err(
            sdk::INSUFFICIENT_FEE,
            format!("fees are paid in {}, not {}", params.fee_denom, other.denom),
        ));
    }
    let paid = fee_coins.amount_of(&params.fee_denom);
    let min_price = params.min_gas_price_decimal()?;
    let required = min_price
        .mul_int_ceil(u128::from(fee.gas_limit))
        .map_err(|e| err(sdk::INSUFFICIENT_FEE, format!("required fee: {e}")))?;
    // A wallet simulates before it knows the gas, hence the fee: the minimum applies on delivery.
    if paid < required && mode == Mode::Execute {
        return Err(err(
            sdk::INSUFFICIENT_FEE,
            format!(
                "insufficient fee: got {paid}{d}, required {required}{d} ({} x {} gas)",
                params.min_gas_price,
                fee.gas_limit,
                d = params.fee_denom
            ),
        ));
    }

    let size_for_gas = match mode {
        Mode::Execute => bytes.len(),
        Mode::Simulate => bytes
            .len()
            .max(signed_size_estimate(&raw, &auth, paid, params)?),
    };
    Ok(CheckedTx {
        hash: tx_hash(bytes),
        len: bytes.len(),
        size_for_gas,
        body_bytes: raw.body_bytes,
        auth_info_bytes: raw.auth_info_bytes,
        signatures: raw.signatures,
        signer_infos,
        signers,
        msgs,
        gas_limit: fee.gas_limit,
        fee: Coin {
            denom: params.fee_denom.clone(),
            amount: paid,
        },
        timeout_height: body.timeout_height,
    })
}

/// Verifies signers, sequences and the fee; bumps sequences, records keys and takes the fee.
pub fn ante(
    state: &mut dyn StateWrite,
    tx: &CheckedTx,
    params: &Params,
    block: &BlockContext,
    meter: &GasMeter,
) -> Result<(), TxError> {
    ante_in(state, tx, params, block, meter, Mode::Execute)
}

fn ante_in(
    state: &mut dyn StateWrite,
    tx: &CheckedTx,
    params: &Params,
    block: &BlockContext,
    meter: &GasMeter,
    mode: Mode,
) -> Result<(), TxError> {
    if tx.timeout_height != 0 && block.height > tx.timeout_height {
        return Err(err(
            sdk::TX_TIMEOUT_HEIGHT,
            format!(
                "tx timed out at height {}, block height is {}",
                tx.timeout_height, block.height
            ),
        ));
    }
    let costs = params.gas_costs();
    meter.consume(
        costs
            .tx_size_per_byte
            .saturating_mul(tx.size_for_gas as u64),
    )?;
    let mut metered = Metered::new(&mut *state, meter, costs);
    for (i, signer) in tx.signers.iter().enumerate() {
        let info = &tx.signer_infos[i];
        let acc = metered.account(signer)?.ok_or_else(|| {
            err(
                sdk::UNKNOWN_ADDRESS,
                format!("account {signer} does not exist; send it funds first"),
            )
        })?;
        let pubkey = match (acc.pubkey, info.pubkey) {
            (Some(stored), Some(given)) if stored != given => {
                return Err(err(
                    sdk::INVALID_PUBKEY,
                    format!("public key of {signer} differs from the one on record"),
                ));
            }
            (Some(stored), _) => stored,
            (None, Some(given)) => given,
            // A simulation records a stand-in key of the same size, so its gas is right.
            (None, None) if mode == Mode::Simulate => simulation_pubkey(),
            (None, None) => {
                return Err(err(
                    sdk::INVALID_PUBKEY,
                    format!("no public key for {signer}; the first tx must carry it"),
                ))
            }
        };
        if info.sequence != acc.sequence {
            return Err(err(
                sdk::WRONG_SEQUENCE,
                format!(
                    "account sequence mismatch, expected {}, got {}: incorrect account sequence",
                    acc.sequence, info.sequence
                ),
            ));
        }
        meter.consume(costs.sig_verify_secp256k1)?;
        if mode == Mode::Execute {
            let sign_doc = SignDoc {
                body_bytes: tx.body_bytes.clone(),
                auth_info_bytes: tx.auth_info_bytes.clone(),
                chain_id: block.chain_id.clone(),
                account_number: acc.account_number,
            }
            .encode_to_vec();
            if !ballast_accounts::verify_secp256k1(&pubkey, &sign_doc, &tx.signatures[i]) {
                return Err(err(
                    sdk::UNAUTHORIZED,
                    format!(
                        "signature verification failed; please verify account number ({}) and chain-id ({}): unauthorized",
                        acc.account_number, block.chain_id
                    ),
                ));
            }
        }
        bank::record_signature(&mut metered, &acc, pubkey)?;
    }
    let payer = tx.signers[0];
    bank::deduct_fee(&mut metered, &payer, &tx.fee)?;
    // `metered` borrows `state` until here.
    if mode == Mode::Simulate && tx.fee.amount == 0 {
        charge_fee_deduction_gas(&*state, &payer, params, meter)?;
    }
    Ok(())
}

/// The secp256k1 generator point: a valid key that stands in for an unknown one in simulations.
const SIMULATION_PUBKEY: [u8; 33] = [
    0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b,
    0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17,
    0x98,
];

fn simulation_pubkey() -> PubKey {
    PubKey::from_bytes(&SIMULATION_PUBKEY).expect("the secp256k1 generator is a valid point")
}

/// A wallet simulates with an empty fee (it does not know the gas yet), but the signed tx will
/// pay one, and taking it costs reads and writes. Charges that gas by taking one unit of the fee
/// denom on a scratch layer that is then thrown away, plus the bytes by which a real fee's
/// amounts can be longer (at most the digits of the fee for the maximum gas, and a carry). If
/// the payer has nothing, the real tx fails anyway; the gas charged up to that point stands.
fn charge_fee_deduction_gas(
    state: &dyn StateWrite,
    payer: &Address,
    params: &Params,
    meter: &GasMeter,
) -> Result<(), TxError> {
    let costs = params.gas_costs();
    let mut scratch = Metered::new(Overlay::new(state), meter, costs);
    let one = Coin {
        denom: params.fee_denom.clone(),
        amount: 1,
    };
    match bank::deduct_fee(&mut scratch, payer, &one).map_err(TxError::from) {
        Err(e) if e.fatal || e.code == sdk::OUT_OF_GAS => return Err(e),
        _ => {}
    }
    let longer = max_fee(params)?.to_string().len() as u64 + 1;
    meter.consume(costs.write_per_byte.saturating_mul(longer))?;
    Ok(())
}

/// The fee a tx of the maximum gas pays at the minimum gas price (at least 1).
fn max_fee(params: &Params) -> Result<u128, TxError> {
    Ok(params
        .min_gas_price_decimal()?
        .mul_int_ceil(u128::from(params.max_tx_gas))
        .unwrap_or(u128::MAX)
        .max(1))
}

/// The size a simulated tx will have once it is signed: a 64-byte signature and a key per
/// signer, SIGN_MODE_DIRECT, a gas limit and, if it names no fee, one large enough for the
/// maximum gas. A signed tx with a fee is its own estimate.
fn signed_size_estimate(
    raw: &TxRaw,
    auth: &AuthInfo,
    paid: u128,
    params: &Params,
) -> Result<usize, TxError> {
    let mut est = auth.clone();
    for si in est.signer_infos.iter_mut() {
        if si.public_key.is_none() {
            si.public_key = Some(cosmrs::Any {
                type_url: ballast_accounts::PUBKEY_TYPE_URL.into(),
                value: simulation_pubkey().to_any_value(),
            });
        }
        si.mode_info = Some(ModeInfo {
            sum: Some(mode_info::Sum::Single(mode_info::Single {
                mode: SignMode::Direct as i32,
            })),
        });
    }
    let mut fee = est.fee.take().unwrap_or_default();
    if fee.gas_limit == 0 {
        fee.gas_limit = params.max_tx_gas;
    }
    if paid == 0 {
        fee.amount = vec![ProtoCoin {
            denom: params.fee_denom.clone(),
            amount: max_fee(params)?.to_string(),
        }];
    }
    est.fee = Some(fee);
    Ok(TxRaw {
        body_bytes: raw.body_bytes.clone(),
        auth_info_bytes: est.encode_to_vec(),
        signatures: raw
            .signatures
            .iter()
            .map(|s| vec![0u8; s.len().max(64)])
            .collect(),
    }
    .encoded_len())
}

/// The outcome of one tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// 0 on success.
    pub code: u32,
    /// Codespace of a failure.
    pub codespace: String,
    /// Log.
    pub log: String,
    /// The tx's gas limit.
    pub gas_wanted: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Events of the ante step (always) and of the messages (on success).
    pub events: Vec<Event>,
}

impl TxOutcome {
    /// A success that used no gas (an injected tx).
    pub fn ok_without_gas(events: Vec<Event>) -> Self {
        TxOutcome {
            code: 0,
            codespace: String::new(),
            log: String::new(),
            gas_wanted: 0,
            gas_used: 0,
            events,
        }
    }

    /// A failure that used no gas (an injected tx).
    pub fn error_without_gas(e: &TxError) -> Self {
        Self::failed(e, 0, 0, Vec::new())
    }

    fn succeeded(tx: &CheckedTx, meter: &GasMeter, events: Vec<Event>) -> Self {
        TxOutcome {
            code: 0,
            codespace: String::new(),
            log: String::new(),
            gas_wanted: tx.gas_limit,
            gas_used: meter.used(),
            events,
        }
    }

    fn failed(e: &TxError, gas_wanted: u64, gas_used: u64, events: Vec<Event>) -> Self {
        TxOutcome {
            code: e.code,
            codespace: e.codespace.to_string(),
            log: e.log.clone(),
            gas_wanted,
            gas_used,
            events,
        }
    }
}

/// Decodes, checks and runs the ante step on its own overlay of `state`. `Ok(Err(outcome))` is
/// a failed tx that leaves no writes; `Err` is a fatal node failure.
fn decode_and_ante(
    state: &dyn StateWrite,
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
    block: &BlockContext,
) -> Result<Result<(CheckedTx, GasMeter, Changes), TxOutcome>, TxError> {
    let tx = match decode_and_check(bytes, params, modules) {
        Ok(tx) => tx,
        Err(e) if e.fatal => return Err(e),
        Err(e) => return Ok(Err(TxOutcome::failed(&e, 0, 0, Vec::new()))),
    };
    let meter = GasMeter::new(tx.gas_limit);
    let mut ov = Overlay::new(state);
    match ante(&mut ov, &tx, params, block, &meter) {
        Ok(()) => {
            let changes = ov.into_changes();
            Ok(Ok((tx, meter, changes)))
        }
        Err(e) if e.fatal => Err(e),
        Err(e) => Ok(Err(TxOutcome::failed(
            &e,
            tx.gas_limit,
            meter.used(),
            Vec::new(),
        ))),
    }
}

/// Runs a user tx on `state`: stateless checks, ante (kept even if the messages fail: the fee
/// is paid and the sequence advances), then the messages on their own overlay (kept only if all
/// succeed). Returns `Err` only for fatal node failures.
pub fn deliver(
    state: &mut dyn StateWrite,
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
    block: &BlockContext,
) -> Result<TxOutcome, TxError> {
    let (tx, meter, ante_changes) = match decode_and_ante(state, bytes, params, modules, block)? {
        Ok(x) => x,
        Err(failed) => return Ok(failed),
    };
    let ante_events = ante_changes.events.clone();
    ante_changes.apply_to(state).map_err(TxError::from)?;

    let ctx = TxContext {
        block,
        tx_hash: tx.hash,
        signers: &tx.signers,
    };
    let msg_result = {
        let mut ov = Overlay::new(&*state);
        let run = {
            let mut metered = Metered::new(&mut ov, &meter, params.gas_costs());
            tx.msgs.iter().enumerate().try_for_each(|(i, m)| {
                m.execute(&mut metered, &ctx)
                    .map_err(|e| e.context(format!("message {i} ({})", m.type_url())))
            })
        };
        run.map(|()| ov.into_changes())
    };
    match msg_result {
        Ok(changes) => {
            let mut events = ante_events;
            events.extend(changes.events.iter().cloned());
            changes.apply_to(state).map_err(TxError::from)?;
            Ok(TxOutcome::succeeded(&tx, &meter, events))
        }
        Err(e) if e.fatal => Err(e),
        Err(e) => Ok(TxOutcome::failed(
            &e,
            tx.gas_limit,
            meter.used(),
            ante_events,
        )),
    }
}

/// What a simulated tx would do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulateOutcome {
    /// The tx's gas limit (0 when it names none, as wallets do before they estimate).
    pub gas_wanted: u64,
    /// Gas the tx would use.
    pub gas_used: u64,
    /// Events of the ante step and of the messages.
    pub events: Vec<Event>,
    /// Log of the result (empty on success, as in delivery).
    pub log: String,
}

/// Runs a tx as FinalizeBlock would, on a layer over `state` that is dropped afterwards, to
/// estimate its gas. Wallets send the real key and sequence with an empty signature, no fee and
/// no gas limit, so, unlike delivery:
/// - the signature is not verified, but its gas is charged;
/// - SIGN_MODE_UNSPECIFIED is accepted, and so are a gas limit of 0 and a fee below the minimum;
/// - tx-size gas is charged for the size the signed tx will have (64-byte signatures, a key,
///   a fee), and for an empty fee the gas of taking a fee is charged (see
///   `charge_fee_deduction_gas`);
/// - the gas meter's limit is `max_tx_gas`, not the tx's own limit.
///
/// Everything else (accounts, sequences, fee balance, messages) is checked as in delivery.
/// A failure is returned as the tx's `TxError` (with `fatal` set for node failures).
pub fn simulate(
    state: &dyn StateRead,
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
    block: &BlockContext,
) -> Result<SimulateOutcome, TxError> {
    let tx = decode_and_check_in(bytes, params, modules, Mode::Simulate)?;
    let meter = GasMeter::new(params.max_tx_gas);
    let mut ov = Overlay::new(state);
    ante_in(&mut ov, &tx, params, block, &meter, Mode::Simulate)?;
    let ctx = TxContext {
        block,
        tx_hash: tx.hash,
        signers: &tx.signers,
    };
    {
        let mut metered = Metered::new(&mut ov, &meter, params.gas_costs());
        for (i, m) in tx.msgs.iter().enumerate() {
            m.execute(&mut metered, &ctx)
                .map_err(|e| e.context(format!("message {i} ({})", m.type_url())))?;
        }
    }
    Ok(SimulateOutcome {
        gas_wanted: tx.gas_limit,
        gas_used: meter.used(),
        events: ov.into_changes().events,
        log: String::new(),
    })
}

/// CheckTx: stateless checks and ante on the mempool state (messages are not executed), so that
/// several txs of one account can wait in the mempool with consecutive sequences.
pub fn check(
    state: &mut dyn StateWrite,
    bytes: &[u8],
    params: &Params,
    modules: &[Box<dyn Module>],
    block: &BlockContext,
) -> Result<TxOutcome, TxError> {
    match decode_and_ante(state, bytes, params, modules, block)? {
        Ok((tx, meter, changes)) => {
            changes.apply_to(state).map_err(TxError::from)?;
            Ok(TxOutcome::succeeded(&tx, &meter, Vec::new()))
        }
        Err(failed) => Ok(failed),
    }
}

/// Reads the accounts params, which every tx needs.
pub fn load_params(state: &dyn StateRead) -> Result<Params, TxError> {
    state.accounts_params().map_err(TxError::from)
}
