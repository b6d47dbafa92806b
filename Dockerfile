# syntax=docker/dockerfile:1.7
# The image of every stage: one target per stage, named after it; the build stage installs
# that stage's package, so STAGE and --target are the same stage name. Context: the
# repository root:
#   docker build --target prediction_service --build-arg STAGE=prediction_service \
#     -t mlops-prediction-service:dev .
# Two build phases: uv installs the locked dependencies (a cached layer that changes only
# with uv.lock), then the workspace packages, into /opt/venv; the final image holds that
# venv on the same slim Python base, runs as a non-root user and has no compiler or uv.
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
ARG STAGE
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# 1) Dependencies only: the lock and every workspace member's manifest (uv needs the whole
#    workspace to read the lock), no sources. uv normalises the stage folder's name
#    (prediction_service) to its package's (prediction-service).
COPY pyproject.toml uv.lock ./
COPY mlops_core/pyproject.toml mlops_core/
COPY data_ingestion/pyproject.toml data_ingestion/
COPY model_training/pyproject.toml model_training/
COPY deployment_prep/pyproject.toml deployment_prep/
COPY prediction_service/pyproject.toml prediction_service/
COPY model_monitoring/pyproject.toml model_monitoring/
RUN --mount=type=cache,target=/root/.cache/uv \
    { [ -n "${STAGE}" ] && [ -f "${STAGE}/pyproject.toml" ]; } \
      || { echo "--build-arg STAGE=<stage folder> is required (got '${STAGE}')" >&2; exit 1; } \
    && uv sync --frozen --no-dev --no-default-groups --no-install-workspace --package "${STAGE}"
# 2) The workspace packages this stage needs (installed as wheels, not editable).
COPY mlops_core/src mlops_core/src
COPY ${STAGE}/src ${STAGE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-default-groups --no-editable --package "${STAGE}"

FROM ${PYTHON_IMAGE} AS runtime
# git: the data registry is a git repository of DVC metafiles.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --create-home --home-dir /home/mlops mlops \
    && install -d -o 10001 -g 10001 /var/lib/mlops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLOPS_HOME=/var/lib/mlops \
    MLOPS_LOG_FORMAT=json \
    HOME=/home/mlops
USER 10001:10001
WORKDIR /home/mlops
ENTRYPOINT ["mlops"]

# One target per stage: only the default command (and the served port) differ.
FROM runtime AS data_ingestion
CMD ["ingest", "--help"]

FROM runtime AS model_training
CMD ["train", "--json"]

FROM runtime AS deployment_prep
CMD ["promote", "--help"]

FROM runtime AS prediction_service
EXPOSE 8000
CMD ["serve", "--port", "8000"]

FROM runtime AS model_monitoring
EXPOSE 8000
CMD ["monitor", "--json"]
