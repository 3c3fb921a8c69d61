#!/usr/bin/env bash
# The e2e tier of CI (.ci/run calls this). The offline toolchain takes longer than CI's
# 90 minutes to build from cold, so it is built once per machine by
# `e2e/cluster.sh up --offline`; this tier runs only where that cache exists.
#   cache present: start Docker (../shared/env/docker-up.sh), bring the cluster up, build
#                  and load the project images, run the e2e pytest tier (cluster, then
#                  operator tests), delete the cluster (MILLRACE_E2E_KEEP=1 keeps it),
#                  exit with pytest's status
#   cache absent:  print one loud line saying the tier did not run and why; exit 0
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
# shellcheck source=versions.env
source "$E2E_DIR/versions.env"
CACHE=${MILLRACE_CACHE:-$HOME/.cache/millrace}
STAMP=$CACHE/toolchain-$K8S_VERSION/READY
if [[ ! -f $STAMP ]]; then
  echo "!!!!! E2E TIER DID NOT RUN: toolchain cache $STAMP missing (cold build does not fit CI's 90 min); build it once on this machine with: e2e/cluster.sh up --offline !!!!!"
  exit 0
fi
echo "== e2e tier: toolchain cache $CACHE/toolchain-$K8S_VERSION (built $(cat "$STAMP"))"
if ! docker info >/dev/null 2>&1; then
  up=$REPO/../shared/env/docker-up.sh
  [[ -x $up || -f $up ]] || { echo "E2E TIER FAILED: no Docker engine and no $up to start one"; exit 1; }
  bash "$up" || { echo "E2E TIER FAILED: $up could not start Docker"; exit 1; }
fi
export MILLRACE_E2E_OFFLINE=1
"$E2E_DIR/cluster.sh" up --offline || { echo "E2E TIER FAILED: e2e/cluster.sh up --offline failed (step named above)"; exit 1; }
# the operator, broker and client images from this tree (wheels from the host's wheel cache)
"$E2E_DIR/cluster.sh" load-images --offline || { echo "E2E TIER FAILED: e2e/cluster.sh load-images failed (step named above)"; exit 1; }
export MILLRACE_E2E_KUBECONFIG=$CACHE/${MILLRACE_E2E_CLUSTER:-millrace-e2e}.kubeconfig
cd "$REPO"
timeout_arg=(); python3 -c 'import pytest_timeout' 2>/dev/null && timeout_arg=(--timeout=900)
python3 -m pytest "$E2E_DIR/tests" -o testpaths=e2e/tests -p no:cacheprovider -v -rA "${timeout_arg[@]}"
status=$?
if [[ ${MILLRACE_E2E_KEEP:-0} != 1 ]]; then "$E2E_DIR/cluster.sh" down --offline || true; fi
exit $status
