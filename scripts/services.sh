#!/usr/bin/env bash
# Installs (Debian packages) and starts what gpubatch needs on this machine:
# PostgreSQL 15, Redis 7 and the Docker engine (and chromium, for the
# dashboard's browser test, and promtool, for the metrics tests). Idempotent: services that
# already answer are used as they are. Prints the env to export.
# --fresh-test-db drops and recreates the test database first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
PG_USER="${GPUBATCH_TEST_PG_USER:-gpubatch}"
PG_PASSWORD="${GPUBATCH_TEST_PG_PASSWORD:-gpubatch}"
PG_DB="${GPUBATCH_TEST_PG_DB:-gpubatch_test}"

log() { echo "[services] $*" >&2; }
# Only the final exports go to stdout (the caller evals them); everything the
# tools below print goes to stderr. The daemons started below get no copy of
# fd 3: one held open would keep the caller's $(...) waiting forever.
exec 3>&1 1>&2

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v dockerd >/dev/null || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
# Debian's AWS CLI: the AWS Batch API's end-to-end test drives it (--endpoint-url).
[ -x /usr/bin/aws ] || missing+=(awscli)
# A local private registry with basic auth (bcrypt htpasswd) for the pull-credential test.
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
# The dashboard's browser test drives Debian's chromium (playwright-core never downloads a browser).
command -v chromium >/dev/null || missing+=(chromium)
# promtool checks the /metrics output in the tests (the prometheus package; its daemon is not started).
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Redis: use one that answers, else start our own (no persistence: tests only).
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --maxmemory-policy noeviction >/dev/null 3>&-
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# PostgreSQL: start the packaged cluster, then a role and database of our own
# over the local socket so the tests can use a normal TCP DATABASE_URL.
if ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  log "starting postgresql"
  cluster="$(pg_lsclusters -h | awk 'NR==1{print $1" "$2}')"
  if [ -z "$cluster" ]; then $SUDO pg_createcluster 15 main >/dev/null; cluster="15 main"; fi
  $SUDO pg_ctlcluster $cluster start 3>&-
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -q && break; sleep 0.1; done
fi
psql_admin() { $SUDO su postgres -c "psql -qtAX -v ON_ERROR_STOP=1 $*"; }
if [ "$(psql_admin "-c \"select 1 from pg_roles where rolname='$PG_USER'\"")" != "1" ]; then
  psql_admin "-c \"create role $PG_USER login createdb password '$PG_PASSWORD'\""
fi
if [ "${1:-}" = "--fresh-test-db" ]; then
  # The test command starts from an empty database each run: no schema or rows of an earlier run leak in.
  psql_admin "-c \"drop database if exists $PG_DB with (force)\""
fi
if [ "$(psql_admin "-c \"select 1 from pg_database where datname='$PG_DB'\"")" != "1" ]; then
  psql_admin "-c \"create database $PG_DB owner $PG_USER\""
fi

# Docker engine. When we start it ourselves, the GPU stubs in test/fixtures/gpu
# are on its PATH so device requests (--gpus) take the real code path without
# a GPU: dockerd registers its nvidia driver when it finds the hook at start-up.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  # Pid files left by an engine that did not stop cleanly (a machine restored
  # from a snapshot keeps /var/run) make dockerd wait for a containerd that is
  # not there, or refuse to start: drop those whose process is gone.
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    [ -f "$pidfile" ] || continue
    comm="$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null || true)"
    case "$comm" in dockerd|containerd) ;; *) $SUDO rm -f "$pidfile" ;; esac
  done
  PATH="$ROOT/test/fixtures/gpu:$PATH" nohup dockerd --bridge=none --iptables=false \
    >/tmp/gpubatch-dockerd.log 2>&1 3>&- &
  for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start, see /tmp/gpubatch-dockerd.log"; exit 1; }
fi

# The local test image: busybox on scratch (no registry needed).
if ! docker image inspect gpubatch-test:latest >/dev/null 2>&1; then
  log "building test image gpubatch-test:latest"
  ctx="$(mktemp -d)"
  cp /bin/busybox "$ctx/busybox"
  cp "$ROOT/test/fixtures/image/Dockerfile" "$ctx/Dockerfile"
  docker build -q -t gpubatch-test:latest "$ctx" >/dev/null
  rm -rf "$ctx"
fi

echo "export DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:5432/$PG_DB" >&3
echo "export REDIS_URL=redis://127.0.0.1:6379" >&3
