# Shared helpers for the e2e toolchain scripts (sourced, not executed).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../versions.env
source "$E2E_DIR/versions.env"
CACHE=${MILLRACE_CACHE:-$HOME/.cache/millrace}
TOOLCHAIN=$CACHE/toolchain-$K8S_VERSION
BIN=$TOOLCHAIN/bin
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="${GOFLAGS:--p=2} -trimpath -buildvcs=false"
export CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$BIN" "$TOOLCHAIN/logs"

step() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'ERROR in step "%s": %s\n' "${CURRENT_STEP:-?}" "$*" >&2; exit 1; }
# run_step NAME CMD...: runs CMD with output to a log; on failure names the step and shows the log tail.
run_step() {
  local name=$1; shift
  CURRENT_STEP=$name
  local safe=${name//[^A-Za-z0-9._-]/_}
  local log=$TOOLCHAIN/logs/$safe.log
  step "$name (log: $log)"
  local t0=$SECONDS
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "failed; full log in $log"
  fi
  printf '    done in %ss\n' $((SECONDS - t0)) >&2
}
