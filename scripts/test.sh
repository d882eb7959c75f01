#!/usr/bin/env bash
# The README's test command: installs and starts what the tests need
# (PostgreSQL, Redis, the Docker engine, a local test image), installs the
# dependencies, builds, and runs every test (unit, integration, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/node.sh
# Assigned first so a failure to start a service stops the run here.
service_env="$(bash scripts/services.sh --fresh-test-db)"
eval "$service_env"
# The tests flush their Redis database: keep them on database 15, away from anything else.
export REDIS_URL="${REDIS_URL%/}/${GPUBATCH_TEST_REDIS_DB:-15}"
export DATABASE_URL

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # No fallback: a lockfile npm ci refuses is a bug to fix, not to hide.
  npm ci --no-audit --no-fund
fi
npm run build
npm run typecheck
results="$(mktemp)"
status=0
npm test -- --json --outputFile="$results" "$@" || status=$?
if [ "$#" -eq 0 ]; then
  # The fault suite at CI size (docs/reliability.md): real processes on their own Postgres and
  # Redis, one each of the faults behind the bugs it was built for, at seeded random moments.
  # `npm run test:faults` runs all eleven scenarios, 110 faults.
  # The timeout slack allows for a slow Docker engine on a small CI machine; an unenforced timeout (jobs sleep 15 s) still fails.
  FAULTS_COUNT="${FAULTS_COUNT:-6}" FAULTS_INFLIGHT="${FAULTS_INFLIGHT:-40}" FAULTS_WARMUP_SECONDS=10 FAULTS_STALL_SECONDS=30 \
    FAULTS_TIMEOUT_SLACK_SECONDS="${FAULTS_TIMEOUT_SLACK_SECONDS:-6}" \
    FAULTS_SCENARIOS="${FAULTS_SCENARIOS:-worker-kill-quick,postgres-down,scheduler-kill-quick,redis-restart-flush,lease-churn,worker-partition}" \
    npm run test:faults || status=$?
fi
# A plain closing line any CI reader understands.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$results" 2>/dev/null || true
rm -f "$results"
exit "$status"
