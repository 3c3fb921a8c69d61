#!/usr/bin/env bash
# Builds every container image the offline node image carries, from the binaries built by
# build-kubernetes.sh / build-go-tools.sh and the debootstrap root filesystems:
#   registry.k8s.io/{kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy}:K8S
#   registry.k8s.io/etcd, registry.k8s.io/coredns/coredns, registry.k8s.io/pause (the
#   names and tags kubeadm expects), kindnet-lite (CNI) and local-path-provisioner/helper.
# Idempotent: an image that exists is not rebuilt.
source "$(dirname "$0")/lib.sh"
LABEL=io.millrace.e2e=toolchain
have() { docker image inspect "$1" >/dev/null 2>&1; }

import_rootfs() {  # NAME TAG
  have "$2" && return 0
  echo "importing rootfs $1 as $2"
  docker import --change "LABEL $LABEL" "$CACHE/rootfs/$1.tar" "$2" >/dev/null
}
import_rootfs node local/millrace-node-rootfs:bookworm
import_rootfs component local/millrace-component-rootfs:bookworm

ctx=$TOOLCHAIN/ctx; rm -rf "$ctx"; mkdir -p "$ctx"

if ! have "$K8S_BASE_IMAGE"; then
  cp -r "$E2E_DIR/images/component" "$ctx/base"
  docker build -q --label "$LABEL" -t "$K8S_BASE_IMAGE" "$ctx/base"
fi

# component IMAGE ENTRYPOINT BINARY...
component() {
  local image=$1 entry=$2; shift 2
  have "$image" && { echo "$image present"; return 0; }
  local d; d=$ctx/$(echo "$image" | tr '/:' '__'); mkdir -p "$d"
  { echo "FROM $K8S_BASE_IMAGE"
    for b in "$@"; do cp "$BIN/$b" "$d/"; echo "COPY $b /usr/local/bin/$b"; done
    [[ -n $entry ]] && echo "ENTRYPOINT $entry"
  } > "$d/Dockerfile"
  echo "building $image"
  docker build -q --label "$LABEL" -t "$image" "$d" >/dev/null
}
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  component "registry.k8s.io/$c:$K8S_VERSION" "" "$c"
done
component "registry.k8s.io/etcd:$ETCD_IMAGE_TAG" "" etcd
component "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" '["/usr/local/bin/coredns"]' coredns
component "$STORAGE_PROVISIONER_IMAGE" '["/usr/local/bin/local-path-provisioner"]' local-path-provisioner
have "$STORAGE_HELPER_IMAGE" || docker tag "$K8S_BASE_IMAGE" "$STORAGE_HELPER_IMAGE"

# pause: a static binary alone, as upstream's.
if ! have "registry.k8s.io/pause:$PAUSE_IMAGE_TAG"; then
  mkdir -p "$ctx/pause"; cp "$BIN/pause" "$ctx/pause/"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/pause/Dockerfile"
  docker build -q --label "$LABEL" -t "registry.k8s.io/pause:$PAUSE_IMAGE_TAG" "$ctx/pause" >/dev/null
fi

if ! have "$KINDNET_IMAGE"; then
  cp -r "$E2E_DIR/images/kindnet-lite" "$ctx/kindnet"; cp "$BIN/kubectl" "$ctx/kindnet/"
  docker build -q --label "$LABEL" --build-arg "BASE_IMAGE=$K8S_BASE_IMAGE" -t "$KINDNET_IMAGE" "$ctx/kindnet" >/dev/null
fi
docker images --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
