//! The query services of the Bitcoin light client (`ballast.btclightclient.v1.Query`),
//! checkpointing (`ballast.checkpointing.v1.Query`), restaking (`ballast.restaking.v1.Query`)
//! and consumers (`ballast.consumers.v1.Query`). Every method forwards to the ABCI query of
//! the same path through [`abci_query`], so a gRPC answer is byte for byte the ABCI answer, read
//! from the last committed state (or the height in `x-cosmos-block-height`), and a module's
//! error arrives as a status with its codespace and code in the metadata.

use super::query::abci_query;
use crate::App;
use ballast_proto::ballast::btclightclient::v1 as btc_pb;
use ballast_proto::ballast::checkpointing::v1 as ckpt_pb;
use ballast_proto::ballast::consumers::v1 as consumers_pb;
use ballast_proto::ballast::restaking::v1 as restaking_pb;
use tonic::{Request, Response, Status};

/// `ballast.btclightclient.v1.Query`.
#[derive(Clone)]
pub(crate) struct BtcLightClientQuery {
    pub(crate) app: App,
}

#[tonic::async_trait]
impl btc_pb::query_server::Query for BtcLightClientQuery {
    async fn params(
        &self,
        request: Request<btc_pb::QueryParamsRequest>,
    ) -> Result<Response<btc_pb::QueryParamsResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/Params",
            request,
        )
        .await
    }

    async fn tip(
        &self,
        request: Request<btc_pb::QueryTipRequest>,
    ) -> Result<Response<btc_pb::QueryTipResponse>, Status> {
        abci_query(&self.app, "/ballast.btclightclient.v1.Query/Tip", request).await
    }

    async fn base_header(
        &self,
        request: Request<btc_pb::QueryBaseHeaderRequest>,
    ) -> Result<Response<btc_pb::QueryBaseHeaderResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/BaseHeader",
            request,
        )
        .await
    }

    async fn header_by_hash(
        &self,
        request: Request<btc_pb::QueryHeaderByHashRequest>,
    ) -> Result<Response<btc_pb::QueryHeaderByHashResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/HeaderByHash",
            request,
        )
        .await
    }

    async fn header_by_height(
        &self,
        request: Request<btc_pb::QueryHeaderByHeightRequest>,
    ) -> Result<Response<btc_pb::QueryHeaderByHeightResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/HeaderByHeight",
            request,
        )
        .await
    }

    async fn depth(
        &self,
        request: Request<btc_pb::QueryDepthRequest>,
    ) -> Result<Response<btc_pb::QueryDepthResponse>, Status> {
        abci_query(&self.app, "/ballast.btclightclient.v1.Query/Depth", request).await
    }

    async fn contains_hash(
        &self,
        request: Request<btc_pb::QueryContainsHashRequest>,
    ) -> Result<Response<btc_pb::QueryContainsHashResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/ContainsHash",
            request,
        )
        .await
    }

    async fn is_on_best_chain(
        &self,
        request: Request<btc_pb::QueryIsOnBestChainRequest>,
    ) -> Result<Response<btc_pb::QueryIsOnBestChainResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/IsOnBestChain",
            request,
        )
        .await
    }

    async fn main_chain(
        &self,
        request: Request<btc_pb::QueryMainChainRequest>,
    ) -> Result<Response<btc_pb::QueryMainChainResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.btclightclient.v1.Query/MainChain",
            request,
        )
        .await
    }
}

/// `ballast.checkpointing.v1.Query`.
#[derive(Clone)]
pub(crate) struct CheckpointingQuery {
    pub(crate) app: App,
}

#[tonic::async_trait]
impl ckpt_pb::query_server::Query for CheckpointingQuery {
    async fn params(
        &self,
        request: Request<ckpt_pb::QueryParamsRequest>,
    ) -> Result<Response<ckpt_pb::QueryParamsResponse>, Status> {
        abci_query(&self.app, "/ballast.checkpointing.v1.Query/Params", request).await
    }

    async fn checkpoint(
        &self,
        request: Request<ckpt_pb::QueryCheckpointRequest>,
    ) -> Result<Response<ckpt_pb::QueryCheckpointResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.checkpointing.v1.Query/Checkpoint",
            request,
        )
        .await
    }

    async fn checkpoints(
        &self,
        request: Request<ckpt_pb::QueryCheckpointsRequest>,
    ) -> Result<Response<ckpt_pb::QueryCheckpointsResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.checkpointing.v1.Query/Checkpoints",
            request,
        )
        .await
    }

    async fn epoch_of_height(
        &self,
        request: Request<ckpt_pb::QueryEpochOfHeightRequest>,
    ) -> Result<Response<ckpt_pb::QueryEpochOfHeightResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.checkpointing.v1.Query/EpochOfHeight",
            request,
        )
        .await
    }

    async fn latest_finalized_epoch(
        &self,
        request: Request<ckpt_pb::QueryLatestFinalizedEpochRequest>,
    ) -> Result<Response<ckpt_pb::QueryLatestFinalizedEpochResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.checkpointing.v1.Query/LatestFinalizedEpoch",
            request,
        )
        .await
    }

    async fn bls_key(
        &self,
        request: Request<ckpt_pb::QueryBlsKeyRequest>,
    ) -> Result<Response<ckpt_pb::QueryBlsKeyResponse>, Status> {
        abci_query(&self.app, "/ballast.checkpointing.v1.Query/BlsKey", request).await
    }

    async fn validator_snapshot(
        &self,
        request: Request<ckpt_pb::QueryValidatorSnapshotRequest>,
    ) -> Result<Response<ckpt_pb::QueryValidatorSnapshotResponse>, Status> {
        abci_query(
            &self.app,
            "/ballast.checkpointing.v1.Query/ValidatorSnapshot",
            request,
        )
        .await
    }
}

/// Implements a query service whose every method forwards to the ABCI query of
/// `/<service>/<Method>`.
macro_rules! forward_queries {
    ($server:ty => $ty:ty; $service:literal; $($method:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        #[tonic::async_trait]
        impl $server for $ty {
            $(
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    abci_query(&self.app, concat!("/", $service, "/", $path), request).await
                }
            )*
        }
    };
}

/// `ballast.restaking.v1.Query`.
#[derive(Clone)]
pub(crate) struct RestakingQuery {
    pub(crate) app: App,
}

forward_queries! {
    restaking_pb::query_server::Query => RestakingQuery;
    "ballast.restaking.v1.Query";
    params(restaking_pb::QueryParamsRequest) -> restaking_pb::QueryParamsResponse = "Params";
    operator(restaking_pb::QueryOperatorRequest) -> restaking_pb::QueryOperatorResponse = "Operator";
    operators(restaking_pb::QueryOperatorsRequest) -> restaking_pb::QueryOperatorsResponse = "Operators";
    power_table(restaking_pb::QueryPowerTableRequest) -> restaking_pb::QueryPowerTableResponse = "PowerTable";
    power_snapshot(restaking_pb::QueryPowerSnapshotRequest) -> restaking_pb::QueryPowerSnapshotResponse = "PowerSnapshot";
    hub_validators(restaking_pb::QueryHubValidatorsRequest) -> restaking_pb::QueryHubValidatorsResponse = "HubValidators";
    native_bonds(restaking_pb::QueryNativeBondsRequest) -> restaking_pb::QueryNativeBondsResponse = "NativeBonds";
    btc_delegation(restaking_pb::QueryBtcDelegationRequest) -> restaking_pb::QueryBtcDelegationResponse = "BtcDelegation";
    btc_delegations(restaking_pb::QueryBtcDelegationsRequest) -> restaking_pb::QueryBtcDelegationsResponse = "BtcDelegations";
    rewards(restaking_pb::QueryRewardsRequest) -> restaking_pb::QueryRewardsResponse = "Rewards";
}

/// `ballast.consumers.v1.Query`.
#[derive(Clone)]
pub(crate) struct ConsumersQuery {
    pub(crate) app: App,
}

forward_queries! {
    consumers_pb::query_server::Query => ConsumersQuery;
    "ballast.consumers.v1.Query";
    params(consumers_pb::QueryParamsRequest) -> consumers_pb::QueryParamsResponse = "Params";
    consumer(consumers_pb::QueryConsumerRequest) -> consumers_pb::QueryConsumerResponse = "Consumer";
    consumers(consumers_pb::QueryConsumersRequest) -> consumers_pb::QueryConsumersResponse = "Consumers";
    opt_ins(consumers_pb::QueryOptInsRequest) -> consumers_pb::QueryOptInsResponse = "OptIns";
    operator_allocations(consumers_pb::QueryOperatorAllocationsRequest) -> consumers_pb::QueryOperatorAllocationsResponse = "OperatorAllocations";
    validator_set(consumers_pb::QueryValidatorSetRequest) -> consumers_pb::QueryValidatorSetResponse = "ValidatorSet";
    updates(consumers_pb::QueryUpdatesRequest) -> consumers_pb::QueryUpdatesResponse = "Updates";
}
