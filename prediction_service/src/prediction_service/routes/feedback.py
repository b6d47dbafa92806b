"""POST /v1/feedback: the true label of an earlier prediction."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mlops_core.predlog import utcnow
from prediction_service.deps import ServiceDep
from prediction_service.errors import ApiError, item
from prediction_service.openapi import body, errors, returns
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], default_response_class=Response)


def _known_in_log(engine, rid: str) -> bool:
    import sqlalchemy as sa

    from mlops_core.predlog import predictions

    with engine.connect() as conn:
        found = conn.execute(
            sa.select(predictions.c.request_id).where(predictions.c.request_id == rid)
        ).first()
    return found is not None


@router.post(
    "",
    summary="Report the true label of an earlier prediction",
    status_code=202,
    responses={202: returns("FeedbackResponse"), **errors(400, 404, 413, 422, 503)},
    openapi_extra=body("FeedbackRequest"),
)
async def feedback(request: Request, service: ServiceDep) -> Response:
    fb = await service.inputs.feedback(request)
    if fb.request_id not in service.recent:
        try:
            known = await run_in_threadpool(_known_in_log, service.writer.engine, fb.request_id)
        except Exception:
            raise ApiError(
                503,
                "the prediction log cannot be read right now; retry later",
                headers={"Retry-After": "5"},
            ) from None
        if not known:
            raise ApiError(
                404,
                f"no prediction with request id {fb.request_id!r}",
                [item("request_id", ["body", "request_id"], "not_found", "unknown request id")],
            )
    service.writer.log_feedback(
        {"request_id": fb.request_id, "label": fb.label, "created_at": utcnow()}
    )
    model = service.model
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
