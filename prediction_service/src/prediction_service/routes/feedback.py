"""POST /v1/feedback (the single-model route) and the handler every model's feedback route
shares: the true label of an earlier prediction (a number for a regressor, one of the
classes for a classifier)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from prediction_service.deps import ServiceDep
from prediction_service.errors import ApiError, item
from prediction_service.openapi import body, errors, returns
from prediction_service.responses import respond
from prediction_service.service import ServedModel, Service

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], default_response_class=Response)


def _model_in_log(engine, rid: str) -> str | None:
    """The model whose prediction has request id `rid`, None when the log has none."""
    import sqlalchemy as sa

    from mlops_core.predlog import predictions

    with engine.connect() as conn:
        found = conn.execute(
            sa.select(predictions.c.model_name).where(predictions.c.request_id == rid)
        ).first()
    return None if found is None else str(found[0])


async def give_feedback(request: Request, service: Service, served: ServedModel) -> Response:
    request.scope["served"] = served
    fb = await served.inputs.feedback(request)
    owner = service.recent.get(fb.request_id)
    if owner is None:
        try:
            owner = await run_in_threadpool(_model_in_log, service.writer.engine, fb.request_id)
        except Exception:
            raise ApiError(
                503,
                "the prediction log cannot be read right now; retry later",
                headers={"Retry-After": "5"},
            ) from None
    # An id predicted by another model of this service is not this model's to label.
    if owner is None or (owner and owner != served.name):
        raise ApiError(
            404,
            f"no prediction of model {served.name!r} with request id {fb.request_id!r}",
            [item("request_id", ["body", "request_id"], "not_found", "unknown request id")],
        )
    service.writer.log_feedback(served.feedback_row(fb.request_id, fb.label))
    model = served.current
    return respond(
        request,
        {
            "request_id": fb.request_id,
            "accepted": True,
            "model_name": model.name,
            "model_version": model.version,
        },
        model,
        status=202,
    )


@router.post(
    "",
    summary="Report the true label of an earlier prediction (the only served model)",
    status_code=202,
    responses={202: returns("FeedbackResponse"), **errors(400, 404, 413, 422, 503)},
    openapi_extra=body("FeedbackRequest"),
)
async def feedback(request: Request, service: ServiceDep) -> Response:
    return await give_feedback(request, service, service.only())
