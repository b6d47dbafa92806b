#!/bin/sh
# with-extra-ca CMD...: run CMD (apt-get, pip, uv) trusting the system CAs plus the build
# secret `extra_ca` when the build was given one (a TLS-intercepting proxy's CA). Used by
# the Dockerfile through a bind mount; the combined bundle lives only while CMD runs.
set -e
secret=/run/secrets/extra_ca
[ -s "$secret" ] || exec "$@"
bundle="$(mktemp)"
trap 'rm -f "$bundle"' EXIT
cat /etc/ssl/certs/ca-certificates.crt "$secret" >"$bundle" 2>/dev/null || cat "$secret" >"$bundle"
export SSL_CERT_FILE="$bundle" PIP_CERT="$bundle" REQUESTS_CA_BUNDLE="$bundle"
if [ "$1" = apt-get ]; then
  shift
  set -- apt-get -o "Acquire::https::CAInfo=$bundle" "$@"
fi
"$@"
