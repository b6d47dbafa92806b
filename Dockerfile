# The image of every stage: one target per stage, named after it; the build stage installs
# that stage's package, so STAGE and --target are the same stage name. Context: the
# repository root. `make images` (scripts/build-images.sh) builds all five the way `make up`
# does; by hand:
#   DOCKER_BUILDKIT=1 docker build --target prediction_service \
#     --build-arg STAGE=prediction_service -t mlops-prediction-service:dev .
# Nothing here needs an image registry beyond the base: no `# syntax=` frontend (BuildKit's
# built-in one has `RUN --mount`), uv comes from PyPI as a pinned wheel, and PYTHON_IMAGE
# may name a base built from a Debian mirror (scripts/build-base-image.sh) for air-gapped
# builds. The base needs Python 3.11 with `python3` on PATH, and ca-certificates.
# Extra CAs (a TLS-intercepting proxy): pass a PEM bundle as the build secret `extra_ca`
# (--secret id=extra_ca,src=FILE); apt, pip and uv trust it while they download, and it is
# never written into a layer.
# Two build phases: uv installs the locked dependencies (a cached layer that changes only
# with uv.lock), then the workspace packages, into /opt/venv; the final image holds that
# venv on the same base, runs as a non-root user and has no compiler, pip or uv.
ARG PYTHON_IMAGE=python:3.11.16-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_SYSTEM_CERTS=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# uv from PyPI (the wheel holds the static binary). Debian's python3 has no pip: the build
# stage takes it from the Debian mirror, with binutils (strip); the final image has neither,
# nor uv.
# with-extra-ca (scripts/with-extra-ca.sh, bind-mounted) adds the extra_ca secret to the
# CAs that apt, pip and uv trust, for that one command.
RUN --mount=type=secret,id=extra_ca \
    --mount=type=bind,source=scripts/with-extra-ca.sh,target=/usr/local/bin/with-extra-ca \
    --mount=type=cache,target=/root/.cache/pip \
    with-extra-ca apt-get update \
    && if ! python3 -m pip --version >/dev/null 2>&1; then \
      with-extra-ca apt-get install -y --no-install-recommends python3-pip; \
    fi \
    && with-extra-ca apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/* \
    && with-extra-ca python3 -m pip install --target /opt/uv "uv==${UV_VERSION}" \
    && ln -s /opt/uv/bin/uv /usr/local/bin/uv \
    && uv --version
WORKDIR /src
# Declared here, not above: every RUN after it is keyed by it, so the layers above are shared
# by all five targets.
ARG STAGE
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
COPY loop_runner/pyproject.toml loop_runner/
RUN --mount=type=secret,id=extra_ca \
    --mount=type=bind,source=scripts/with-extra-ca.sh,target=/usr/local/bin/with-extra-ca \
    --mount=type=cache,target=/root/.cache/uv \
    { [ -n "${STAGE}" ] && [ -f "${STAGE}/pyproject.toml" ]; } \
      || { echo "--build-arg STAGE=<stage folder> is required (got '${STAGE}')" >&2; exit 1; } \
    && : > /src/lean-flags \
    && if [ "${STAGE}" = prediction_service ]; then \
         names() { uv export --frozen --no-dev --no-default-groups --no-emit-workspace --no-hashes \
           --no-header --no-annotate --package "${STAGE}" "$@" | sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' | sort -u; }; \
         names > /tmp/all && names --prune dvc --prune dvc-s3 --prune s3fs --prune pyarrow --prune databricks-sdk > /tmp/lean \
         && comm -23 /tmp/all /tmp/lean | sed 's/^/--no-install-package=/' > /src/lean-flags; \
       fi \
    && with-extra-ca xargs -a /src/lean-flags \
         uv sync --frozen --no-dev --no-default-groups --no-install-workspace --package "${STAGE}"
# The serving image is kept small (at most 500 MB, tested): it leaves out what mlops-core
# declares for the data registry (DVC, its S3 filesystem, Parquet), the Databricks SDK that
# mlflow-skinny declares (imported for Databricks URIs only) and what only they pull in
# (/src/lean-flags: one --no-install-package each); its shared objects are stripped, type
# stubs and Cython sources dropped, and botocore keeps only the S3, STS and SSO service
# models (what MLflow's S3 artifact store needs). `import mlflow` asks
# find_spec("databricks.agents"), which raises without a `databricks` package: an empty
# namespace folder answers "not installed". tests/containers serves from this image.
# 2) The workspace packages this stage needs (installed as wheels, not editable), then the
#    numeric libraries' own test suites removed (about 150 MB no stage imports).
COPY mlops_core/src mlops_core/src
COPY ${STAGE}/src ${STAGE}/src
RUN --mount=type=secret,id=extra_ca \
    --mount=type=bind,source=scripts/with-extra-ca.sh,target=/usr/local/bin/with-extra-ca \
    --mount=type=cache,target=/root/.cache/uv \
    with-extra-ca xargs -a /src/lean-flags \
      uv sync --frozen --no-dev --no-default-groups --no-editable --package "${STAGE}" \
    && for p in numpy scipy pandas sklearn pyarrow; do \
         find /opt/venv/lib/python3*/site-packages/"$p" -type d -name tests -prune -exec rm -rf {} + 2>/dev/null || true; \
       done \
    && if [ "${STAGE}" = prediction_service ]; then \
         find /opt/venv -type f -name '*.so*' ! -path '*.libs/*' -exec strip --strip-unneeded {} + \
         && find /opt/venv -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' \) -delete \
         && find /opt/venv/lib/python3*/site-packages/botocore/data -mindepth 1 -maxdepth 1 -type d \
              ! -name s3 ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} + \
         && mkdir /opt/venv/lib/python3.11/site-packages/databricks; \
       fi

FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG STAGE
# /var/lib/mlops (MLOPS_HOME) and /workspace (the Evidently workspace) belong to uid 10001, so
# a fresh Docker volume mounted there (the docker task runner) is writable by the stages.
# git: the data registry is a git repository of DVC metafiles; the serving image does not
# read it, so it has no git (nor the perl git pulls in).
RUN --mount=type=secret,id=extra_ca \
    --mount=type=bind,source=scripts/with-extra-ca.sh,target=/usr/local/bin/with-extra-ca \
    if [ "${STAGE}" != prediction_service ] && ! command -v git >/dev/null 2>&1; then \
      with-extra-ca apt-get update \
      && with-extra-ca apt-get install -y --no-install-recommends git \
      && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi \
    && groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --create-home --home-dir /home/mlops mlops \
    && install -d -o 10001 -g 10001 /var/lib/mlops /workspace
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
