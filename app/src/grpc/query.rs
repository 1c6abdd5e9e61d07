//! The query services: `ballast.accounts.v1.Query`, `cosmos.bank.v1beta1.Query` and
//! `cosmos.auth.v1beta1.Query`. Every method answers through [`App::query`], the same code path
//! as the ABCI query of the same name, on the last committed state (or on the height named by
//! the `x-cosmos-block-height` header). Reads run on tokio's blocking pool and take no
//! consensus lock, so they never hold up block execution.

use super::status::{self, Origin};
use super::BLOCK_HEIGHT_HEADER;
use crate::App;
use ballast_proto::ballast::accounts::v1 as accounts_pb;
use ballast_proto::cosmos::auth::v1beta1 as auth_pb;
use ballast_proto::cosmos::bank::v1beta1 as bank_pb;
use prost::Message;
use tendermint_proto::v0_38::abci::RequestQuery;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

/// The height a request asks for: 0 (the latest) unless `x-cosmos-block-height` names one.
pub(crate) fn requested_height(md: &MetadataMap) -> Result<i64, Status> {
    let Some(v) = md.get(BLOCK_HEIGHT_HEADER) else {
        return Ok(0);
    };
    let text = v.to_str().map_err(|_| {
        Status::invalid_argument(format!("{BLOCK_HEIGHT_HEADER} is not ASCII text"))
    })?;
    match text.trim().parse::<i64>() {
        Ok(h) if h >= 0 => Ok(h),
        _ => Err(Status::invalid_argument(format!(
            "{BLOCK_HEIGHT_HEADER} must be a non-negative integer, got {text:?}"
        ))),
    }
}

/// Runs the ABCI query `path` with the request's encoding as data, and decodes the answer as
/// `Resp`. The response carries the answered height in `x-cosmos-block-height`.
pub(crate) async fn abci_query<Req: Message, Resp: Message + Default>(
    app: &App,
    path: &'static str,
    request: Request<Req>,
) -> Result<Response<Resp>, Status> {
    let height = requested_height(request.metadata())?;
    let data = request.into_inner().encode_to_vec();
    let app = app.clone();
    let answer = tokio::task::spawn_blocking(move || {
        app.query(RequestQuery {
            data: data.into(),
            path: path.into(),
            height,
            prove: false,
        })
    })
    .await
    .map_err(status::join_status)?;
    if answer.code != 0 {
        return Err(status::status(
            Origin::Query,
            &answer.codespace,
            answer.code,
            false,
            &answer.log,
        ));
    }
    let value = Resp::decode(answer.value.as_ref()).map_err(|e| {
        tracing::error!(path, error = %e, "a query answered bytes that do not decode");
        Status::internal(format!("the answer of {path} does not decode: {e}"))
    })?;
    let mut response = Response::new(value);
    response
        .metadata_mut()
        .insert(BLOCK_HEIGHT_HEADER, MetadataValue::from(answer.height));
    Ok(response)
}

/// `ballast.accounts.v1.Query`.
#[derive(Clone)]
pub(crate) struct AccountsQuery {
    pub(crate) app: App,
}

#[tonic::async_trait]
impl accounts_pb::query_server::Query for AccountsQuery {
    async fn params(
        &self,
        request: Request<accounts_pb::QueryParamsRequest>,
    ) -> Result<Response<accounts_pb::QueryParamsResponse>, Status> {
        abci_query(&self.app, "/ballast.accounts.v1.Query/Params", request).await
    }

    async fn supply(
        &self,
        request: Request<accounts_pb::QuerySupplyRequest>,
    ) -> Result<Response<accounts_pb::QuerySupplyResponse>, Status> {
        // The same read as the bank SupplyOf query, which validates the denom.
        let (metadata, extensions, req) = request.into_parts();
        let inner = Request::from_parts(
            metadata,
            extensions,
            bank_pb::QuerySupplyOfRequest { denom: req.denom },
        );
        let answer: Response<bank_pb::QuerySupplyOfResponse> =
            abci_query(&self.app, "/cosmos.bank.v1beta1.Query/SupplyOf", inner).await?;
        let (metadata, supply, extensions) = answer.into_parts();
        let amount = supply
            .amount
            .map(|c| c.amount)
            .unwrap_or_else(|| "0".into());
        Ok(Response::from_parts(
            metadata,
            accounts_pb::QuerySupplyResponse { amount },
            extensions,
        ))
    }
}

/// `cosmos.bank.v1beta1.Query` (Balance, AllBalances, SupplyOf).
#[derive(Clone)]
pub(crate) struct BankQuery {
    pub(crate) app: App,
}

#[tonic::async_trait]
impl bank_pb::query_server::Query for BankQuery {
    async fn balance(
        &self,
        request: Request<bank_pb::QueryBalanceRequest>,
    ) -> Result<Response<bank_pb::QueryBalanceResponse>, Status> {
        abci_query(&self.app, "/cosmos.bank.v1beta1.Query/Balance", request).await
    }

    async fn all_balances(
        &self,
        request: Request<bank_pb::QueryAllBalancesRequest>,
    ) -> Result<Response<bank_pb::QueryAllBalancesResponse>, Status> {
        abci_query(&self.app, "/cosmos.bank.v1beta1.Query/AllBalances", request).await
    }

    async fn supply_of(
        &self,
        request: Request<bank_pb::QuerySupplyOfRequest>,
    ) -> Result<Response<bank_pb::QuerySupplyOfResponse>, Status> {
        abci_query(&self.app, "/cosmos.bank.v1beta1.Query/SupplyOf", request).await
    }
}

/// `cosmos.auth.v1beta1.Query` (Account).
#[derive(Clone)]
pub(crate) struct AuthQuery {
    pub(crate) app: App,
}

#[tonic::async_trait]
impl auth_pb::query_server::Query for AuthQuery {
    async fn account(
        &self,
        request: Request<auth_pb::QueryAccountRequest>,
    ) -> Result<Response<auth_pb::QueryAccountResponse>, Status> {
        abci_query(&self.app, "/cosmos.auth.v1beta1.Query/Account", request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn height_header_parses_or_is_rejected() {
        let mut md = MetadataMap::new();
        assert_eq!(requested_height(&md).unwrap(), 0);
        md.insert(BLOCK_HEIGHT_HEADER, MetadataValue::from_static("12"));
        assert_eq!(requested_height(&md).unwrap(), 12);
        for bad in ["-1", "abc", "1.5", ""] {
            md.insert(BLOCK_HEIGHT_HEADER, MetadataValue::try_from(bad).unwrap());
            let st = requested_height(&md).unwrap_err();
            assert_eq!(st.code(), tonic::Code::InvalidArgument, "{bad:?}");
        }
    }
}
