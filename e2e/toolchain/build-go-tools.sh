#!/usr/bin/env bash
# Builds the Go programs of the e2e toolchain (other than Kubernetes itself) from Go modules,
# each through a small wrapper module (so upstream replace directives do not block a build
# of a published version). Idempotent: skips binaries already built.
source "$(dirname "$0")/lib.sh"

# go_tool NAME MODULE@VERSION PACKAGE [LDFLAGS]
# Usage: build-go-tools.sh [NAME...]   (default: all of them)
WANT=" $* "
go_tool() {
  local name=$1 modver=$2 pkg=$3 ld=${4:-}
  [[ $WANT != "  " && $WANT != *" $name "* ]] && return 0
  [[ -x $BIN/$name ]] && { echo "$name present"; return 0; }
  local w=$TOOLCHAIN/src/$name
  mkdir -p "$w"
  (
    cd "$w"
    printf 'module millrace.local/build-%s\n\ngo 1.24.0\n' "$name" > go.mod
    # STAGING_REPLACES: Kubernetes staging modules pinned to the published tags of our
    # release (cri-tools requires -rc versions the checksum database does not serve).
    for m in ${STAGING_REPLACES:-}; do echo "replace $m => $m v0.${K8S_VERSION#v1.}" >> go.mod; done
    echo 'package main' > tools.go
    go get "$pkg@${modver#*@}"
    echo "building $name ($modver)"
    go build -ldflags "-s -w $ld" -o "$BIN/$name" "$pkg"
  )
}

go_tool kind "sigs.k8s.io/kind@$KIND_VERSION" sigs.k8s.io/kind
# cri-tools' go.mod is not in the checksum database: skip only its lookup.
GONOSUMDB=sigs.k8s.io/cri-tools \
  STAGING_REPLACES="k8s.io/api k8s.io/apimachinery k8s.io/client-go k8s.io/cri-api k8s.io/cri-client k8s.io/kubectl k8s.io/kubelet k8s.io/cli-runtime k8s.io/component-base" \
  go_tool crictl "sigs.k8s.io/cri-tools@$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl \
  "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
go_tool etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
# CoreDNS: upstream's coremain with the plugins a cluster uses (e2e/images/coredns/main.go).
if [[ ! -x $BIN/coredns && ( $WANT == "  " || $WANT == *" coredns "* ) ]]; then
  w=$TOOLCHAIN/src/coredns; rm -rf "$w"; mkdir -p "$w"
  cp "$E2E_DIR/images/coredns/main.go" "$w/"
  ( cd "$w"
    printf 'module millrace.local/coredns\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" > go.mod
    go mod tidy
    echo "building coredns ($COREDNS_VERSION, cluster plugins)"
    go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$BIN/coredns" . )
fi
go_tool local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" \
  github.com/rancher/local-path-provisioner "-X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION"
# pause: Millrace's own minimal pause (e2e/images/pause), no dependencies.
if [[ ! -x $BIN/pause && ( $WANT == "  " || $WANT == *" pause "* ) ]]; then
  (cd "$E2E_DIR/images/pause" && go build -ldflags "-s -w" -o "$BIN/pause" .)
fi
go_tool helm "helm.sh/helm/v3@$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
ls -la "$BIN"
