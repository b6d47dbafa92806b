#!/usr/bin/env bash
# A Docker engine for CI and for machines without systemd: start one when none answers,
# stop only the one this script started.
#
#   scripts/docker-engine.sh start   install Debian's docker.io if dockerd is missing (apt),
#                                    start dockerd in the background, wait for `docker info`
#   scripts/docker-engine.sh stop    stop the dockerd that `start` started (by its pid file)
#   scripts/docker-engine.sh status  print whether an engine answers, and who started it
#
# Environment:
#   DOCKER_ENGINE_DIR   state of the started engine: data root, exec root, pid file and log
#                       (default ${TMPDIR:-/tmp}/mlops-docker-engine; kept by `stop`, so a
#                       later `start` reuses the image layers)
#   DOCKER_ENGINE_WAIT  seconds to wait for the engine to answer (default 60)
#   DOCKER_BUILD_CACHE  the build cache the started engine keeps (default 10GB)
# An engine that already answers (Docker Desktop, a systemd service) is used as it is and
# never stopped. The engine listens on the default socket, so `docker` and the tests need
# no DOCKER_HOST.
set -euo pipefail

DIR="${DOCKER_ENGINE_DIR:-${TMPDIR:-/tmp}/mlops-docker-engine}"
PIDFILE="$DIR/dockerd.pid"
LOG="$DIR/dockerd.log"
WAIT="${DOCKER_ENGINE_WAIT:-60}"
# Debian's docker.io client (20.10) has BuildKit built in; a newer client found first on
# PATH may lack buildx and refuse `RUN --mount`.
DOCKER="${DOCKER:-$(command -v /usr/bin/docker || command -v docker || true)}"

answers() { [[ -n "$DOCKER" ]] && "$DOCKER" info >/dev/null 2>&1; }

ours() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

cmd_start() {
  if answers; then
    echo "docker engine: already running ($("$DOCKER" version --format '{{.Server.Version}}'))"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 \
      || { echo "error: no dockerd and no apt-get: install a Docker engine" >&2; exit 1; }
    echo "docker engine: installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    DOCKER=/usr/bin/docker
  fi
  mkdir -p "$DIR/data" "$DIR/exec"
  # BuildKit's cache is garbage-collected down to DOCKER_BUILD_CACHE (default 10GB): the
  # engine's state is kept between runs, and each rebuild would otherwise add to it.
  printf '{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "%s"}}}\n' \
    "${DOCKER_BUILD_CACHE:-10GB}" >"$DIR/daemon.json"
  # setsid: its own session, so the caller's job control and signals leave it alone.
  setsid dockerd --config-file "$DIR/daemon.json" --data-root "$DIR/data" \
    --exec-root "$DIR/exec" --pidfile "$PIDFILE" >"$LOG" 2>&1 </dev/null &
  local i
  for ((i = 0; i < WAIT; i++)); do
    if answers; then
      echo "docker engine: started (pid $(cat "$PIDFILE"), state in $DIR)"
      return 0
    fi
    sleep 1
  done
  echo "error: dockerd did not answer in ${WAIT}s; its log ($LOG):" >&2
  tail -n 30 "$LOG" >&2 || true
  exit 1
}

cmd_stop() {
  if ! ours; then
    echo "docker engine: none started by this script (nothing stopped)"
    return 0
  fi
  local pid i
  pid="$(cat "$PIDFILE")"
  kill "$pid"
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || { echo "docker engine: stopped (pid $pid)"; return 0; }
    sleep 1
  done
  echo "warning: dockerd (pid $pid) still running after 30 s: killing it" >&2
  kill -9 "$pid" 2>/dev/null || true
}

cmd_status() {
  if answers; then
    if ours; then echo "running (started by this script, pid $(cat "$PIDFILE"))"
    else echo "running (not started by this script)"; fi
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
