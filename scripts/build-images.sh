#!/usr/bin/env bash
# Build the stage images listed in gitops/images.yaml: the one build path of `make images`,
# `make up` (scripts/platform.sh) and the container tests (tests/containers).
#
#   scripts/build-images.sh [STAGE...]   build every listed stage, or only these
#   scripts/build-images.sh --refs       print "stage ref" per listed image, build nothing
#
# Environment:
#   PYTHON_IMAGE   base image (default: the Dockerfile's, the official slim Python image);
#                  for a host with no registry: scripts/build-base-image.sh, then
#                  PYTHON_IMAGE=mlops-python-base:bookworm
#   EXTRA_CA_FILE  PEM bundle of extra CAs for the downloads during the build (passed as
#                  the build secret extra_ca, never stored in an image). Default: when
#                  the host trusts extra CAs (/usr/local/share/ca-certificates/*.crt),
#                  its bundle /etc/ssl/certs/ca-certificates.crt; EXTRA_CA_FILE=none:
#                  nothing
#   IMAGE_TAG      tag instead of gitops/images.yaml's (e.g. dev)
#   DOCKER         docker client (default: `docker` when it has buildx, else /usr/bin/docker)
#   BUILD_RETRIES  runs again of a build whose BuildKit session broke (default 2)
#   DRY_RUN=1      print the build commands only
# No provenance attestations are made, so `kind load docker-image` works with both of
# Docker's image stores (kind issue 3795): buildx gets --provenance=false; the BuildKit
# built into Docker 20.10-22 (DOCKER_BUILDKIT=1, exported here) makes none.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DRY_RUN="${DRY_RUN:-0}"
[[ "$DRY_RUN" == "1" || "$DRY_RUN" == "true" ]] && DRY_RUN=1 || DRY_RUN=0

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- the list of images
REGISTRY="$(awk '$1 == "registry:" {print $2; exit}' gitops/images.yaml)"
TAG="${IMAGE_TAG:-$(awk '$1 == "tag:" {gsub(/"/, "", $2); print $2; exit}' gitops/images.yaml)}"
declare -A NAME=()
STAGES=()
while read -r stage name; do
  STAGES+=("$stage")
  NAME[$stage]="$name"
done < <(awk '/^images:/ {s=1; next} s && /^[^ #]/ {s=0} s && /^  [a-z_]+:/ {k = $1; sub(":", "", k); print k, $2}' gitops/images.yaml)
[[ -n "$REGISTRY" && -n "$TAG" && ${#STAGES[@]} -gt 0 ]] \
  || die "gitops/images.yaml: registry, tag and images are required"
[[ "$TAG" != "latest" ]] || die "the tag latest is not allowed"

ref() { printf '%s/%s:%s' "$REGISTRY" "${NAME[$1]}" "$TAG"; }

if [[ "${1:-}" == "--refs" ]]; then
  for stage in "${STAGES[@]}"; do printf '%s %s\n' "$stage" "$(ref "$stage")"; done
  exit 0
fi
WANT=("$@")
((${#WANT[@]})) || WANT=("${STAGES[@]}")
for stage in "${WANT[@]}"; do
  [[ -n "${NAME[$stage]:-}" ]] || die "unknown stage $stage (gitops/images.yaml lists: ${STAGES[*]})"
done

# ---------------------------------------------------------------- the builder
# A client whose `docker build` runs BuildKit: Docker 23+ with buildx, or 20.10-22 with
# DOCKER_BUILDKIT=1 (a newer client without buildx refuses RUN --mount).
if [[ -z "${DOCKER:-}" ]]; then
  if docker buildx version >/dev/null 2>&1; then DOCKER=docker
  elif [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker
  else DOCKER=docker; fi
fi
export DOCKER_BUILDKIT=1
ARGS=()
# buildx (what `docker build` is on Docker 23+) attests provenance by default; kind load
# fails on such images in the containerd image store. 20.10's builder has no such flag.
if "$DOCKER" build --help 2>/dev/null | grep -q -- '--provenance'; then
  ARGS+=(--provenance=false)
fi
[[ -n "${PYTHON_IMAGE:-}" ]] && ARGS+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
EXTRA_CA_FILE="${EXTRA_CA_FILE:-}"
host_cas=(/usr/local/share/ca-certificates/*.crt)
if [[ -z "$EXTRA_CA_FILE" && -e "${host_cas[0]}" && -r /etc/ssl/certs/ca-certificates.crt ]]; then
  # The host trusts extra CAs: pass its whole bundle (update-ca-certificates put them in).
  EXTRA_CA_FILE=/etc/ssl/certs/ca-certificates.crt
  echo "extra CAs for the build: the host's bundle, which holds ${host_cas[*]} (EXTRA_CA_FILE=none: none)"
fi
if [[ -n "$EXTRA_CA_FILE" && "$EXTRA_CA_FILE" != none ]]; then
  [[ -r "$EXTRA_CA_FILE" ]] || die "EXTRA_CA_FILE=$EXTRA_CA_FILE is not readable"
  ARGS+=(--secret "id=extra_ca,src=$EXTRA_CA_FILE")
fi

# ---------------------------------------------------------------- build
# BuildKit's session with the client (it serves the build secret and the context) now and
# then breaks mid-build (moby/buildkit issue 748: "only one connection allowed", then
# "rpc error: code = Internal desc = unexpected EOF"). Such a build is run again, up to
# BUILD_RETRIES times; a build that failed for its own reasons is not.
BUILD_RETRIES="${BUILD_RETRIES:-2}"
TRANSIENT='rpc error: code = (Internal|Unavailable)|only one connection allowed|error reading from server'
# Bash alone reads the build's output (no mktemp or tee: `make up` runs with few tools).
shopt -s lastpipe
run_build() {
  local attempt=0 rc line broken nice_cmd=()
  # nice: the build shares the machine (CI, a laptop); a plain run where nice is missing.
  command -v nice >/dev/null 2>&1 && nice_cmd=(nice -n "${BUILD_NICE:-10}")
  while :; do
    broken=0
    set +e
    "${nice_cmd[@]}" "$@" 2>&1 | while IFS= read -r line || [[ -n "$line" ]]; do
      printf '%s\n' "$line"
      [[ "$line" =~ $TRANSIENT ]] && broken=1
    done
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc == 0 || broken == 0 || attempt >= BUILD_RETRIES)); then
      return "$rc"
    fi
    attempt=$((attempt + 1))
    echo "  the builder's session broke (a BuildKit fault, not the build's): retry $attempt of $BUILD_RETRIES"
  done
}

for stage in "${WANT[@]}"; do
  cmd=("$DOCKER" build --target "$stage" --build-arg "STAGE=$stage" --tag "$(ref "$stage")" "${ARGS[@]}" .)
  printf '+ %s\n' "${cmd[*]}"
  [[ "$DRY_RUN" == 1 ]] && continue
  start=$(date +%s)
  before="$("$DOCKER" image inspect --format '{{.Id}}' "$(ref "$stage")" 2>/dev/null || true)"
  run_build "${cmd[@]}"
  size="$("$DOCKER" image inspect --format '{{.Size}}' "$(ref "$stage")")"
  # The image this build replaced, now untagged: removed, so rebuilds do not fill the
  # disk (kept when a container or another tag still uses it).
  after="$("$DOCKER" image inspect --format '{{.Id}}' "$(ref "$stage")")"
  if [[ -n "$before" && "$before" != "$after" ]] \
    && [[ "$("$DOCKER" image inspect --format '{{len .RepoTags}}' "$before" 2>/dev/null)" == 0 ]]; then
    "$DOCKER" image rm "$before" >/dev/null 2>&1 || true
  fi
  printf '  built %s: %s MB in %s s\n' "$(ref "$stage")" "$((size / 1000000))" "$(($(date +%s) - start))"
done
