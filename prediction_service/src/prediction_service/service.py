"""The state of one running service: settings, schema, the served model (its manager), the
prediction log writer, metrics, API keys; the routes reach it through `deps.ServiceDep`."""

from __future__ import annotations

from collections import OrderedDict

from mlops_core.predlog import utcnow
from mlops_core.schema import DatasetSchema
from prediction_service.auth import ApiKeyAuth
from prediction_service.batching import MicroBatcher
from prediction_service.inputs import Inputs
from prediction_service.logwriter import PredictionLogWriter
from prediction_service.manager import ModelManager
from prediction_service.metrics import Metrics
from prediction_service.model import LoadedModel, ModelSpec, Predictor
from prediction_service.schemas import ApiModels, build_models
from prediction_service.settings import ServeSettings


class RecentIds:
    """Request ids predicted lately (bounded), so feedback needs no database read."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, rid: str) -> None:
        self._ids[rid] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def extend(self, rids: list[str]) -> None:
        ids = self._ids
        for rid in rids:
            ids[rid] = None
        while len(ids) > self.size:
            ids.popitem(last=False)

    def __contains__(self, rid: str) -> bool:
        return rid in self._ids


class Service:
    def __init__(
        self,
        *,
        settings: ServeSettings,
        schema: DatasetSchema,
        model: LoadedModel,
        spec: ModelSpec,
        tracking_uri: str,
        writer: PredictionLogWriter,
        api_keys: list[str],
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.writer = writer
        self.auth = ApiKeyAuth(api_keys, settings.api_key_header, settings.require_key)
        self.api_keys = self.auth.keys
        self.models: ApiModels = build_models(schema, settings.max_batch)
        self.inputs = Inputs(schema, self.models, settings.max_batch)
        self.predictor = Predictor(schema)
        self.metrics = Metrics()
        self.metrics.bind_writer(writer)
        self.manager = ModelManager(
            model=model,
            spec=spec,
            tracking_uri=tracking_uri,
            schema=schema,
            predictor=self.predictor,
            metrics=self.metrics,
        )
        self.batcher = MicroBatcher(self.predictor)
        self.recent = RecentIds()
        self.feature_names = list(schema.feature_names)

    @property
    def model(self) -> LoadedModel:
        return self.manager.current

    def log_row(self, rid: str, model: LoadedModel, features: dict, value: float, ms: float):
        self.recent.add(rid)
        self.writer.log_prediction(
            {
                "request_id": rid,
                "created_at": utcnow(),
                "model_name": model.name,
                "model_version": model.version,
                "features": features,
                "prediction": value,
                "latency_ms": ms,
            }
        )

    def log_rows(
        self, ids: list[str], model: LoadedModel, records: list[dict], values, ms: float
    ) -> None:
        now, name, version = utcnow(), model.name, model.version
        self.recent.extend(ids)
        self.writer.log_predictions(
            [
                {
                    "request_id": row_id,
                    "created_at": now,
                    "model_name": name,
                    "model_version": version,
                    "features": features,
                    "prediction": value,
                    "latency_ms": ms,
                }
                for row_id, features, value in zip(ids, records, values, strict=True)
            ]
        )
