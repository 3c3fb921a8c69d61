#!/usr/bin/env bash
# Smoke test of the CRDs and the operator against a real kube-apiserver (no kubelet, no
# scheduler: pods never run). Checks what unit tests cannot: the API server accepts the
# CRDs (structural schemas, CEL rules compile within cost budgets, defaults pass rules),
# rejects bad manifests naming the field, and the operator server-side-applies every
# object, writes status and Events, and resumes after a restart without re-applying.
#
#   KUBE_APISERVER=/path/kube-apiserver ETCD=/path/etcd operator/tools/apiserver_smoke.sh
#
# Both binaries come from the e2e toolchain's Go module builds (etcd is built by
# e2e/toolchain/build-go-tools.sh; kube-apiserver: `go build k8s.io/kubernetes/cmd/kube-apiserver`
# in a module like the toolchain's kubernetes one). Needs kubectl and openssl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${KUBE_APISERVER:?set KUBE_APISERVER to a kube-apiserver binary}"
: "${ETCD:=$(ls "$HOME"/.cache/millrace/toolchain-*/bin/etcd 2>/dev/null | tail -1)}"
D=$(mktemp -d)
PIDS=()
OK=0
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$OK" = 1 ]; then rm -rf "$D"; else echo "smoke: logs kept in $D" >&2; fi
}
trap cleanup EXIT
fail() { echo "SMOKE FAIL: $*" >&2; exit 1; }
say() { echo "smoke: $*"; }

openssl genrsa -out "$D/sa.key" 2048 2>/dev/null
openssl rsa -in "$D/sa.key" -pubout -out "$D/sa.pub" 2>/dev/null
echo 'smoke,admin,admin,"system:masters"' > "$D/tokens.csv"
"$ETCD" --data-dir "$D/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  >"$D/etcd.log" 2>&1 & PIDS+=($!)
"$KUBE_APISERVER" --etcd-servers http://127.0.0.1:23790 --bind-address 127.0.0.1 \
  --secure-port 16443 --cert-dir "$D/certs" --token-auth-file "$D/tokens.csv" \
  --authorization-mode AlwaysAllow --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$D/sa.pub" --service-account-signing-key-file "$D/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 >"$D/apiserver.log" 2>&1 & PIDS+=($!)
cat > "$D/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: s, cluster: {server: "https://127.0.0.1:16443", insecure-skip-tls-verify: true}}]
users: [{name: a, user: {token: smoke}}]
contexts: [{name: s, context: {cluster: s, user: a, namespace: default}}]
current-context: s
KC
export KUBECONFIG=$D/kubeconfig
for _ in $(seq 90); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
kubectl get --raw /readyz >/dev/null || fail "kube-apiserver did not start ($D/apiserver.log)"

say "CRDs"
kubectl apply -f "$ROOT/charts/millrace-operator/crds/" >/dev/null || fail "CRDs refused"
kubectl wait --for condition=Established crd/clusters.millrace.io crd/topics.millrace.io >/dev/null
for _ in $(seq 20); do kubectl explain cluster.spec.controllers.count 2>/dev/null | grep -q "odd" && break
  sleep 1; done
kubectl explain cluster.spec.controllers.count | grep -q "odd" || fail "kubectl explain"

say "invalid manifests are rejected naming the field"
reject() {  # reject FIELD-FRAGMENT MANIFEST
  local out; out=$(echo "$2" | kubectl apply -f - 2>&1) && fail "accepted: $2"
  grep -q -- "$1" <<<"$out" || fail "no '$1' in: $out"
}
reject "spec.controllers.count" 'apiVersion: millrace.io/v1alpha1
kind: Cluster
metadata: {name: bad}
spec: {controllers: {count: 2}}'
reject "spec.config" 'apiVersion: millrace.io/v1alpha1
kind: Cluster
metadata: {name: bad}
spec: {config: {node.id: "1"}}'

say "operator: bad input first (no StorageClass), then a cluster"
cat <<'EOF2' | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: zone-a}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {topology.kubernetes.io/zone: zone-b}}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {topology.kubernetes.io/zone: zone-c}}
EOF2
kubectl apply -f "$ROOT/examples/cluster.yaml" -f "$ROOT/examples/topic.yaml" >/dev/null
MILLRACE_HTTP_PORT=18089 MILLRACE_CLUSTER_INTERVAL=3 MILLRACE_TOPIC_INTERVAL=3 \
  python3 -m millrace_operator >"$D/operator.log" 2>&1 & OP=$!; PIDS+=($OP)
reason() { kubectl get "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'; }
for _ in $(seq 60); do [ "$(reason cluster/demo)" = NoDefaultStorageClass ] && break; sleep 1; done
[ "$(reason cluster/demo)" = NoDefaultStorageClass ] || fail "expected NoDefaultStorageClass"
[ -z "$(kubectl get sts -l millrace.io/cluster=demo -o name)" ] || fail "half-created objects"
cat <<'EOF2' | kubectl apply -f - >/dev/null
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: example.com/none
EOF2
for _ in $(seq 60); do [ "$(reason cluster/demo)" = BrokersNotReady ] && break; sleep 1; done
[ "$(reason cluster/demo)" = BrokersNotReady ] || fail "expected BrokersNotReady"
[ "$(kubectl get sts -l millrace.io/cluster=demo -o name | wc -l)" = 6 ] || fail "6 StatefulSets"

say "restart: nothing re-applied, identity kept"
rv=$(kubectl get sts demo-broker-zone-a -o jsonpath='{.metadata.resourceVersion}')
cid=$(kubectl get cluster demo -o jsonpath='{.status.clusterId}')
kill "$OP"; wait "$OP" 2>/dev/null || true
MILLRACE_HTTP_PORT=18089 MILLRACE_CLUSTER_INTERVAL=3 python3 -m millrace_operator \
  >"$D/operator2.log" 2>&1 & PIDS+=($!)
sleep 15
[ "$(kubectl get sts demo-broker-zone-a -o jsonpath='{.metadata.resourceVersion}')" = "$rv" ] ||
  fail "StatefulSet re-applied after restart"
[ "$(kubectl get cluster demo -o jsonpath='{.status.clusterId}')" = "$cid" ] || fail "cluster id"
OK=1
say "ok"
