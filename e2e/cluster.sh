#!/usr/bin/env bash
# The e2e cluster of Millrace: kind, 1 control plane + 3 workers in zones zone-a/b/c.
#
#   e2e/cluster.sh up [--offline]   create (or reuse and restart) the cluster; prints the kubeconfig
#   e2e/cluster.sh down             delete it
#   e2e/cluster.sh status           nodes and zones
#   e2e/cluster.sh load-images      build the operator, broker and client images and load them into it
#   e2e/cluster.sh toolchain [--offline]   only build the tools (and, offline, the node image)
#
# Online (default): kind's public node image; kind, kubectl and helm are built from Go modules.
# Offline (--offline or MILLRACE_E2E_OFFLINE=1): every binary and image is built once from
# Go modules and Debian packages into ~/.cache/millrace (see docs/e2e-offline.md).
# Idempotent. Every step prints progress; a failure names the step.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
source "$E2E_DIR/toolchain/lib.sh"
CLUSTER=${MILLRACE_E2E_CLUSTER:-millrace-e2e}
KUBECONFIG_OUT=${MILLRACE_E2E_KUBECONFIG:-$CACHE/$CLUSTER.kubeconfig}
OFFLINE=${MILLRACE_E2E_OFFLINE:-0}
export PATH=$BIN:$PATH

cmd=${1:-}; shift || true
for a in "$@"; do
  case $a in
    --offline) OFFLINE=1 ;;
    --online) OFFLINE=0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

need_docker() {
  CURRENT_STEP="docker"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd; kind runs its nodes as Docker containers)"
}

toolchain() {
  if [[ $OFFLINE == 1 ]]; then
    if [[ -f $TOOLCHAIN/READY ]] && docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
      step "offline toolchain present ($TOOLCHAIN, $NODE_IMAGE)"
    else
      "$E2E_DIR/toolchain/offline.sh"
    fi
  else
    run_step "build kubectl" "$E2E_DIR/toolchain/build-kubernetes.sh" kubectl
    run_step "build kind and helm" "$E2E_DIR/toolchain/build-go-tools.sh" kind helm
  fi
}

node_image() { if [[ $OFFLINE == 1 ]]; then echo "$NODE_IMAGE"; else echo "$KIND_PUBLIC_NODE_IMAGE"; fi; }

cluster_exists() { kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; }

wait_nodes_ready() {
  CURRENT_STEP="wait for nodes"
  step "waiting for 4 nodes Ready"
  local deadline=$((SECONDS + ${1:-300}))
  until [[ $(kubectl --kubeconfig "$KUBECONFIG_OUT" get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l) -ge 4 ]]; do
    if ((SECONDS > deadline)); then
      kubectl --kubeconfig "$KUBECONFIG_OUT" get nodes -o wide >&2 || true
      die "nodes not Ready in time (observed above)"
    fi
    sleep 2
  done
  CURRENT_STEP="wait for system pods"
  kubectl --kubeconfig "$KUBECONFIG_OUT" -n kube-system wait --for=condition=Ready pod --all --timeout=300s >/dev/null ||
    { kubectl --kubeconfig "$KUBECONFIG_OUT" -n kube-system get pods -o wide >&2; die "kube-system pods not Ready (observed above)"; }
}

check_zones() {
  CURRENT_STEP="check zones"
  local zones
  zones=$(kubectl --kubeconfig "$KUBECONFIG_OUT" get nodes -L topology.kubernetes.io/zone --no-headers | awk '{print $NF}' | sort | tr '\n' ' ')
  [[ $zones == *zone-a*zone-b*zone-c* ]] || die "workers lack zone labels: $zones"
}

up() {
  local t0=$SECONDS
  need_docker
  toolchain
  local image; image=$(node_image)
  if cluster_exists; then
    step "cluster $CLUSTER exists: starting any stopped node"
    CURRENT_STEP="restart nodes"
    local stopped
    stopped=$(docker ps -a --filter "label=io.x-k8s.kind.cluster=$CLUSTER" --filter status=exited -q)
    [[ -n $stopped ]] && docker start $stopped >/dev/null
    run_step "export kubeconfig" kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG_OUT"
  else
    CURRENT_STEP="create cluster $CLUSTER"
    local log=$TOOLCHAIN/logs/create-cluster.log t1=$SECONDS
    step "create cluster $CLUSTER from $image (log: $log)"
    if ! kind create cluster --name "$CLUSTER" --image "$image" --config "$E2E_DIR/kind-config.yaml" \
        --kubeconfig "$KUBECONFIG_OUT" --wait 5m --retain >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      local logs=$TOOLCHAIN/logs/kind-$(date -u +%Y%m%dT%H%M%S)
      kind export logs --name "$CLUSTER" "$logs" >/dev/null 2>&1 || true
      [[ ${MILLRACE_E2E_KEEP_FAILED:-0} == 1 ]] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
      die "kind create cluster failed; node logs in $logs"
    fi
    printf '    done in %ss\n' $((SECONDS - t1)) >&2
  fi
  wait_nodes_ready 300
  check_zones
  load_toolbox
  kubectl --kubeconfig "$KUBECONFIG_OUT" get nodes -L topology.kubernetes.io/zone
  step "cluster $CLUSTER up in $((SECONDS - t0))s"
  echo "export KUBECONFIG=$KUBECONFIG_OUT"
}

down() {
  need_docker
  if [[ -x $BIN/kind ]] && cluster_exists; then
    run_step "delete cluster $CLUSTER" kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_OUT"
  else
    # without kind: remove the node containers by kind's label
    local ids; ids=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$CLUSTER")
    [[ -n $ids ]] && docker rm -f -v $ids >/dev/null
  fi
  rm -f "$KUBECONFIG_OUT"
  step "cluster $CLUSTER deleted"
}

status() {
  need_docker
  cluster_exists || { echo "cluster $CLUSTER does not exist"; exit 1; }
  kubectl --kubeconfig "$KUBECONFIG_OUT" get nodes -L topology.kubernetes.io/zone -o wide
}

# Project images: operator (root Dockerfile) and broker (broker-image/Dockerfile). Their
# builds download nothing: the wheels are built on the host first (dist/wheels), and when
# offline BASE_IMAGE is a Python base made locally from Debian packages.
PROJECT_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)
OPERATOR_IMAGE=${MILLRACE_OPERATOR_IMAGE:-millrace/operator:$PROJECT_VERSION}
BROKER_IMAGE=${MILLRACE_BROKER_IMAGE:-millrace/broker:$PROJECT_VERSION}
PY_BASE_IMAGE=local/python:3.11-bookworm
TOOLBOX_IMAGE=millrace/e2e-toolbox:1
BASE_ARGS=()
python_base() {  # offline: a Debian Python base made by debootstrap, passed as BASE_IMAGE
  [[ $OFFLINE == 1 ]] || return 0
  run_step "rootfs python" "$E2E_DIR/toolchain/build-rootfs.sh" python python3,python3-venv,python3-pip,ca-certificates,tini
  if ! docker image inspect "$PY_BASE_IMAGE" >/dev/null 2>&1; then
    run_step "import python base" docker import --change 'ENV LANG=C.UTF-8' "$CACHE/rootfs/python.tar" "$PY_BASE_IMAGE"
  fi
  BASE_ARGS=(--build-arg "BASE_IMAGE=$PY_BASE_IMAGE")
}
load_toolbox() {  # the test pods' image (e2e/images/toolbox), loaded once per cluster
  python_base
  if ! docker image inspect "$TOOLBOX_IMAGE" >/dev/null 2>&1; then
    run_step "build toolbox image" docker build "${BASE_ARGS[@]}" -t "$TOOLBOX_IMAGE" "$E2E_DIR/images/toolbox"
  fi
  if ! docker exec "$CLUSTER-control-plane" crictl inspecti "docker.io/$TOOLBOX_IMAGE" >/dev/null 2>&1 ||
     ! docker exec "$CLUSTER-worker3" crictl inspecti "docker.io/$TOOLBOX_IMAGE" >/dev/null 2>&1; then
    run_step "load toolbox image" kind load docker-image --name "$CLUSTER" "$TOOLBOX_IMAGE"
  fi
}
# Wheels for the project images, built on the host. Dependencies (and hatchling, the build
# backend) are kept in $CACHE/wheels: the first build fills it from the package index, every
# later build runs with --no-index, so a machine with the cache builds the images offline.
WHEEL_CACHE=$CACHE/wheels
CLIENT_IMAGE=${MILLRACE_CLIENT_IMAGE:-millrace/e2e-kafka-client:$PROJECT_VERSION}
build_wheels() {  # build_wheels SRC: SRC/dist/wheels = the project's wheel + its dependencies
  local src=$1
  rm -rf "$src/dist/wheels"  # stale wheels would ride along into the build context
  mkdir -p "$WHEEL_CACHE" "$src/dist/wheels"
  if python3 -m pip wheel -q --no-index --find-links "$WHEEL_CACHE" -w "$src/dist/wheels" "$src[operator]" \
      >"$TOOLCHAIN/logs/wheels-offline.log" 2>&1 && ls "$WHEEL_CACHE"/confluent_kafka-*.whl >/dev/null 2>&1; then
    return 0
  fi
  echo "wheel cache $WHEEL_CACHE incomplete: filling it from the package index" >&2
  python3 -m pip wheel -q -w "$WHEEL_CACHE" "$src[operator]" confluent-kafka hatchling
  rm -f "$WHEEL_CACHE"/millrace-*.whl  # the project's own wheel is never cached
  python3 -m pip wheel -q --no-index --find-links "$WHEEL_CACHE" -w "$src/dist/wheels" "$src[operator]"
}
build_client_image() {  # confluent-kafka in a venv, for client pods
  local ctx; ctx=$(mktemp -d)
  mkdir "$ctx/wheels"
  cp "$E2E_DIR/images/kafka-client/Dockerfile" "$ctx/"
  cp "$WHEEL_CACHE"/confluent_kafka-*.whl "$ctx/wheels/"
  docker build "${BASE_ARGS[@]}" -t "$CLIENT_IMAGE" "$ctx"; local rc=$?
  rm -rf "$ctx"
  return $rc
}
# Workers only: the control plane is tainted, no Millrace pod runs there.
kind_workers() { kind get nodes --name "$CLUSTER" | grep -v control-plane | sort | paste -sd, -; }
load_images() {
  need_docker
  python_base
  # MILLRACE_E2E_SOURCE: build from another tree (e.g. `git archive HEAD`) than this one
  local src=${MILLRACE_E2E_SOURCE:-$REPO}
  local args=("${BASE_ARGS[@]}")
  local built=()
  run_step "build wheels ($src/dist/wheels)" build_wheels "$src"
  run_step "build operator image" docker build "${args[@]}" -t "$OPERATOR_IMAGE" "$src"; built+=("$OPERATOR_IMAGE")
  run_step "build broker image" docker build "${args[@]}" -t "$BROKER_IMAGE" -f "$src/broker-image/Dockerfile" "$src"; built+=("$BROKER_IMAGE")
  # a missing dependency shows here, not as pods crash-looping minutes later
  run_step "smoke-test broker image" docker run --rm --entrypoint python3 "$BROKER_IMAGE" -c \
    'import millrace_broker.main, millrace_broker.server.wiring, millrace_broker.observability.exposition, millrace_operator.nodeprobe'
  run_step "smoke-test operator image" docker run --rm --entrypoint python3 "$OPERATOR_IMAGE" -c \
    'import millrace_operator.handlers'
  if ! docker image inspect "$CLIENT_IMAGE" >/dev/null 2>&1; then
    run_step "build client image" build_client_image
  fi
  built+=("$CLIENT_IMAGE")
  cluster_exists || { step "cluster $CLUSTER does not exist: images built, not loaded"; return 0; }
  local nodes; nodes=$(kind_workers)
  # kind skips a node that already has the image id
  run_step "load ${built[*]}" kind load docker-image --name "$CLUSTER" --nodes "$nodes" "${built[@]}"
}

case $cmd in
  up) up ;;
  down) down ;;
  status) status ;;
  load-images) load_images ;;
  load-toolbox) need_docker; load_toolbox ;;
  toolchain) need_docker; toolchain ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
