#!/usr/bin/env bash
# Builds kubeadm, kubelet, kubectl and the control-plane binaries of $K8S_VERSION from
# Go modules, through a wrapper module (upstream's go.mod replaces its staging modules with
# local paths, which a module-mode build cannot use: point them at the published v0.x tags).
source "$(dirname "$0")/lib.sh"
# Usage: build-kubernetes.sh [COMMAND...]   (default: all of them)
CMDS=("$@")
[[ ${#CMDS[@]} == 0 ]] && CMDS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
missing=0; for c in "${CMDS[@]}"; do [[ -x $BIN/$c ]] || missing=1; done
[[ $missing == 0 ]] && { echo "kubernetes binaries present in $BIN"; exit 0; }
W=$TOOLCHAIN/src/kubernetes; mkdir -p "$W"; cd "$W"
staging_v=v0.${K8S_VERSION#v1.}
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
  echo "module millrace.local/k8sbuild"; echo; echo "go 1.24.0"; echo
  echo "require k8s.io/kubernetes $K8S_VERSION"; echo
  echo "replace ("
  # every staging module upstream replaces -> the published tag of the same release
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | grep -v '^k8s.io/sample-' |
    while read -r m; do echo "  $m => $m $staging_v"; done
  echo ")"
} > go.mod
echo 'package main' > tools.go
for c in "${CMDS[@]}"; do go get "k8s.io/kubernetes/cmd/$c@$K8S_VERSION"; done
v=${K8S_VERSION#v}; major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
done
for c in "${CMDS[@]}"; do
  [[ -x $BIN/$c ]] && continue
  echo "building $c"; time go build -ldflags "$ld" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c"
done
"$BIN/${CMDS[0]}" version --client 2>/dev/null || "$BIN/${CMDS[0]}" version
