#!/usr/bin/env bash
# A Python base image built from a Debian mirror alone, for builds where no image registry
# is reachable (air-gapped hosts, CI here): debootstrap a minimal Debian with Python and CA
# certificates, then `docker import` it. The stage images build on it with
#   make images PYTHON_IMAGE=mlops-python-base:bookworm
#
#   scripts/build-base-image.sh            build the image unless it exists
#   scripts/build-base-image.sh --force    rebuild it
#
# Environment:
#   BASE_IMAGE     name of the image (default mlops-python-base:bookworm)
#   DEBIAN_SUITE   Debian release (default bookworm: Python 3.11, the platform's version)
#   DEBIAN_MIRROR  the mirror (default: the first one in this host's apt sources, else
#                  http://deb.debian.org/debian)
#   EXTRA_CA_FILE  a PEM bundle of extra CAs (a TLS-intercepting proxy) to trust while
#                  debootstrap downloads; it is not written into the image
#   DOCKER         the docker client (default /usr/bin/docker when present)
# Needs root, debootstrap (installed with apt when missing) and a docker engine; about
# 45 s on an idle machine, 125 MB.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-mlops-python-base:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DOCKER="${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

host_mirror() {
  # deb822 sources (URIs:) first, then one-line sources (deb URL suite ...).
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    awk '$1 == "URIs:" && $2 !~ /security/ {print $2; exit}
         $1 == "deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /=/) {if ($i !~ /security/) {print $i; exit} else break}}' "$f"
  done | head -n 1
}

DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(host_mirror)}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [[ "$FORCE" == 0 ]] && "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base image $BASE_IMAGE exists (--force rebuilds it)"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing (install it from your distribution)"
  echo "installing debootstrap (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
    || die "could not install debootstrap"
fi

ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/mlops-base-rootfs.XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

if [[ -n "${EXTRA_CA_FILE:-}" ]]; then
  [[ -r "$EXTRA_CA_FILE" ]] || die "EXTRA_CA_FILE=$EXTRA_CA_FILE is not readable"
  # debootstrap downloads with wget, which honours this variable through its config.
  export WGETRC="$ROOTFS.wgetrc"
  printf 'ca_certificate = %s\n' "$EXTRA_CA_FILE" >"$WGETRC"
fi

echo "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR into $ROOTFS"
start=$(date +%s)
# minbase: essential and required packages only (dpkg, apt, passwd, bash...);
# ca-certificates: TLS to S3, MLflow and git remotes. No git: the Dockerfile adds it (from
# the same mirror) to the images that read the data registry, the serving image has none.
nice -n 10 debootstrap --variant=minbase --include=python3,ca-certificates \
  "$DEBIAN_SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -n 30 "$ROOTFS.log" >&2; die "debootstrap failed (log above)"; }

# Keep the image small and reproducible: no apt lists, caches, docs, man pages or locales;
# the same paths stay excluded for packages installed later in a Dockerfile.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-mlops-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# The Dockerfile installs into /opt/venv with uv; `python` names the interpreter there.
ln -sf python3 "$ROOTFS/usr/bin/python"
# debootstrap's own sources list names the mirror it used; the image keeps it for apt.
printf 'deb %s %s main\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" >"$ROOTFS/etc/apt/sources.list"

python_version="$(chroot "$ROOTFS" python3 -c 'import platform; print(platform.python_version())')"
tar --numeric-owner -C "$ROOTFS" -c . | "$DOCKER" import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (Python $python_version)" \
  - "$BASE_IMAGE" >/dev/null
rm -f "$ROOTFS.log" "${WGETRC:-/nonexistent}"
size="$("$DOCKER" image inspect --format '{{.Size}}' "$BASE_IMAGE")"
echo "built $BASE_IMAGE: Debian $DEBIAN_SUITE, Python $python_version, $((size / 1000000)) MB, $(($(date +%s) - start)) s"
