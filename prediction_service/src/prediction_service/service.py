"""The state of one running service: the served models (each with its schema, request
models, predictor, manager and micro-batcher), the shared prediction log writer, metrics
and API keys; the routes reach it through `deps.ServiceDep`.

One process serves any set of models. Each is a `ServedModel` under its model name (the
model folder's name); the single-model routes (`/v1/predict` ...) answer only when exactly
one model is served.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlops_core.modelspec import ModelFolder
from mlops_core.predlog import utcnow
from mlops_core.schema import DatasetSchema
from prediction_service.auth import ApiKeyAuth
from prediction_service.batching import MicroBatcher
from prediction_service.errors import ApiError
from prediction_service.inputs import Inputs
from prediction_service.logwriter import PredictionLogWriter
from prediction_service.manager import ModelManager
from prediction_service.metrics import Metrics
from prediction_service.model import LoadedModel, ModelSpec, Predictor
from prediction_service.rollout import CANARY, Candidate, ShadowRunner
from prediction_service.schemas import ApiModels, build_models, component_prefix
from prediction_service.settings import ServeSettings


class RecentIds:
    """Request ids predicted lately (bounded, in rows) with the model that answered, so
    feedback needs no database read. A batch is one entry: its rows' ids are its own id
    and a row number (`{id}-{i}`, as the batch routes name them)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        # id -> (model, rows): rows 0 for a single prediction, n for a batch of n.
        self._ids: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._rows = 0

    def add(self, rid: str, model: str = "") -> None:
        self._put(rid, model, 0)

    def add_batch(self, rid: str, rows: int, model: str = "") -> None:
        """The ids `{rid}-0` to `{rid}-{rows - 1}` of one batch."""
        self._put(rid, model, rows)

    def _put(self, rid: str, model: str, rows: int) -> None:
        ids = self._ids
        old = ids.pop(rid, None)
        if old is not None:
            self._rows -= max(old[1], 1)
        ids[rid] = (model, rows)
        self._rows += max(rows, 1)
        while self._rows > self.size and len(ids) > 1:
            self._rows -= max(ids.popitem(last=False)[1][1], 1)

    def get(self, rid: str) -> str | None:
        found = self._ids.get(rid)
        if found is not None and found[1] == 0:
            return found[0]
        batch, sep, row = rid.rpartition("-")
        # Only the row numbers the batch routes write: ASCII digits, no leading zero.
        if not (sep and row.isascii() and row.isdigit()) or (row != "0" and row[0] == "0"):
            return None
        found = self._ids.get(batch)
        if found is not None and int(row) < found[1]:
            return found[0]
        return None

    def __contains__(self, rid: str) -> bool:
        return self.get(rid) is not None


@dataclass(frozen=True)
class Served:
    """What start-up resolved for one model: its folder and the reference to load."""

    folder: ModelFolder
    spec: ModelSpec
    model: LoadedModel
    candidate: Candidate | None = None  # pinned by the settings (MLOPS_SERVE_CANDIDATE)


class ServedModel:
    """One served model: its schema, its request/response models, its predictor and the
    manager that swaps its versions."""

    def __init__(
        self,
        *,
        name: str,
        schema: DatasetSchema,
        model: LoadedModel,
        spec: ModelSpec,
        tracking_uri: str,
        settings: ServeSettings,
        metrics: Metrics,
        prefix: str | None = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self.classifier = schema.is_classification
        self.task = str(schema.task)
        self.role = settings.role
        self.models: ApiModels = build_models(
            schema, settings.max_batch, component_prefix(name) if prefix is None else prefix
        )
        self.inputs = Inputs(schema, self.models, settings.max_batch)
        self.predictor = Predictor(schema)
        self.manager = ModelManager(
            model=model,
            spec=spec,
            tracking_uri=tracking_uri,
            schema=schema,
            predictor=self.predictor,
            metrics=metrics,
        )
        self.batcher = MicroBatcher(self.predictor)
        self.feature_names = list(schema.feature_names)
        base = f"/v1/models/{name}"
        self.paths = {
            "info": base,
            "predict": f"{base}/predict",
            "batch": f"{base}/predict/batch",
            "feedback": f"{base}/feedback",
        }

    @property
    def current(self) -> LoadedModel:
        return self.manager.current

    # -- answers ---------------------------------------------------------------------------
    def answer(self, rid: str, model: LoadedModel, value: Any) -> dict[str, Any]:
        """The body of a single prediction."""
        if self.classifier:
            predicted, probabilities = value
            return {
                "request_id": rid,
                "prediction": predicted,
                "probabilities": probabilities,
                "model_name": model.name,
                "model_version": model.version,
            }
        return {
            "request_id": rid,
            "prediction": value,
            "model_name": model.name,
            "model_version": model.version,
        }

    def answer_batch(
        self, rid: str, ids: list[str], model: LoadedModel, values: Sequence[Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": rid, "request_ids": ids}
        if self.classifier:
            out["predictions"] = [v[0] for v in values]
            out["probabilities"] = [v[1] for v in values]
        else:
            out["predictions"] = values
        out["model_name"] = model.name
        out["model_version"] = model.version
        return out

    def info(self, rid: str) -> dict[str, Any]:
        model = self.current
        return {
            "request_id": rid,
            **model.metadata(),
            "task": self.task,
            "role": self.role,
            "features": self.feature_names,
            "label": self.schema.label.name,
            "classes": list(self.schema.classes) if self.classifier else None,
            "candidate": self.candidate(detail=True),
        }

    def summary(self) -> dict[str, Any]:
        model = self.current
        return {
            "name": self.name,
            "task": self.task,
            "model_version": model.version,
            "alias": model.alias,
            "role": self.role,
            "fast_path": model.fast is not None,
            "url": self.paths["predict"],
            "candidate": self.candidate(),
        }

    def candidate(self, detail: bool = False) -> dict[str, Any] | None:
        """The candidate served beside the champion (schemas.CandidateSummary, with
        `detail` CandidateInfo), None without one."""
        cand = self.manager.candidate  # read once: a poll may replace it meanwhile
        if cand is None:
            return None
        meta = cand.model.metadata()
        out = {
            "model_version": meta.pop("model_version"),
            "mode": cand.mode,
            "weight": cand.weight if cand.mode == CANARY else None,
            "fast_path": meta.pop("fast_path"),
        }
        if detail:  # its alias is its mode, its name the champion's
            out.update({k: v for k, v in meta.items() if k not in ("alias", "model_name")})
        return out

    # -- log rows --------------------------------------------------------------------------
    def row(
        self,
        rid: str,
        created,
        model: LoadedModel,
        features: dict,
        value: Any,
        ms: float,
        role: str | None = None,
    ) -> dict[str, Any]:
        row = {
            "request_id": rid,
            "created_at": created,
            "model_name": model.name,
            "model_version": model.version,
            "features": features,
            "latency_ms": ms,
            "role": role or self.role,
        }
        if self.classifier:
            row["prediction"] = None
            row["predicted_class"], row["probabilities"] = value
        else:
            row["prediction"] = value
        return row

    def rows(
        self,
        ids: Sequence[str],
        created,
        model: LoadedModel,
        records: Sequence[dict],
        values: Sequence[Any],
        ms: float,
        role: str | None = None,
    ) -> list[dict[str, Any]]:
        """The log rows of a batch: `row`'s, each a copy of one template (a dict built per
        row cost a 1 000-row batch twice as much)."""
        base = self.row("", created, model, {}, (None, None) if self.classifier else None, ms, role)
        out = []
        if self.classifier:
            for rid, features, (predicted, probabilities) in zip(ids, records, values, strict=True):
                r = base.copy()
                r["request_id"], r["features"] = rid, features
                r["predicted_class"], r["probabilities"] = predicted, probabilities
                out.append(r)
        else:
            for rid, features, value in zip(ids, records, values, strict=True):
                r = base.copy()
                r["request_id"], r["features"], r["prediction"] = rid, features, value
                out.append(r)
        return out

    def feedback_row(self, rid: str, label: Any) -> dict[str, Any]:
        if self.classifier:
            return {"request_id": rid, "label": None, "label_class": label, "created_at": utcnow()}
        return {"request_id": rid, "label": label, "label_class": None, "created_at": utcnow()}


class Service:
    def __init__(
        self,
        *,
        settings: ServeSettings,
        served: list[Served],
        tracking_uri: str,
        writer: PredictionLogWriter,
        api_keys: list[str],
    ) -> None:
        if not served:
            raise ValueError("a service serves at least one model")
        self.settings = settings
        self.writer = writer
        self.auth = ApiKeyAuth(api_keys, settings.api_key_header, settings.require_key)
        self.api_keys = self.auth.keys
        self.metrics = Metrics()
        self.metrics.bind_writer(writer)
        self.served: dict[str, ServedModel] = {}
        for s in served:
            self.served[s.folder.name] = ServedModel(
                name=s.folder.name,
                schema=s.folder.schema,
                model=s.model,
                spec=s.spec,
                tracking_uri=tracking_uri,
                settings=settings,
                metrics=self.metrics,
            )
            if s.candidate is not None:
                self.served[s.folder.name].manager.pin_candidate(s.candidate)
        self.shadow = ShadowRunner(writer, self.metrics, max_rows=settings.shadow_queue_max)
        # The single-model routes' components keep their plain names (Features, ...).
        self.single: ServedModel | None = None
        self.single_models: ApiModels | None = None
        if len(self.served) == 1:
            self.single = next(iter(self.served.values()))
            self.single_models = build_models(self.single.schema, settings.max_batch, "")
        self.recent = RecentIds()

    @property
    def names(self) -> list[str]:
        return list(self.served)

    def get(self, name: str) -> ServedModel:
        """The served model `name`; a 404 naming the served ones otherwise."""
        found = self.served.get(name)
        if found is None:
            raise ApiError(
                404,
                f"unknown model {name!r}: this service serves {', '.join(self.served)}",
            )
        return found

    def only(self) -> ServedModel:
        """The one served model (the single-model routes); a 404 naming the per-model
        routes when several are served."""
        if self.single is None:
            raise ApiError(
                404,
                f"this service serves {len(self.served)} models ({', '.join(self.served)}): "
                "use /v1/models/{name}/predict, /v1/models/{name}/predict/batch, "
                "/v1/models/{name}/feedback and /v1/models/{name}",
            )
        return self.single

    # The one model's parts, for the single-model routes and callers of one model.
    @property
    def schema(self) -> DatasetSchema:
        return self.only().schema

    @property
    def manager(self) -> ModelManager:
        return self.only().manager

    @property
    def model(self) -> LoadedModel:
        return self.only().current

    @property
    def predictor(self) -> Predictor:
        return self.only().predictor

    @property
    def inputs(self) -> Inputs:
        return self.only().inputs

    @property
    def batcher(self) -> MicroBatcher:
        return self.only().batcher

    @property
    def feature_names(self) -> list[str]:
        return self.only().feature_names

    @property
    def default_model(self) -> LoadedModel | None:
        """The model named in the headers of an answer that names none (one served)."""
        return self.single.current if self.single is not None else None

    @property
    def ready(self) -> bool:
        return all(s.manager.current is not None for s in self.served.values())

    # -- prediction log --------------------------------------------------------------------
    def log_row(
        self,
        served: ServedModel,
        rid: str,
        model: LoadedModel,
        features: dict,
        value,
        ms: float,
        role: str | None = None,
    ) -> None:
        self.recent.add(rid, served.name)
        self.writer.log_prediction(served.row(rid, utcnow(), model, features, value, ms, role))

    def log_rows(
        self,
        served: ServedModel,
        rid: str,
        ids: list[str],
        model: LoadedModel,
        records: list[dict],
        values,
        ms: float,
        role: str | None = None,
    ) -> None:
        """The rows of batch `rid`, whose ids are `{rid}-{i}`."""
        self.recent.add_batch(rid, len(ids), served.name)
        self.writer.log_predictions(served.rows(ids, utcnow(), model, records, values, ms, role))
