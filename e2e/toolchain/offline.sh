#!/usr/bin/env bash
# Builds, once, everything the offline e2e cluster needs, from Go modules and Debian
# packages, into $CACHE (default ~/.cache/millrace) and the local Docker engine:
# binaries (Kubernetes, kind, crictl, helm, etcd, CoreDNS, local-path-provisioner, pause),
# root filesystems, component images and finally the kind node image $NODE_IMAGE.
# Every step is idempotent; a failure names the step and shows its log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/rootfs.env"
here=$(cd "$(dirname "$0")" && pwd)
t0=$SECONDS
run_step "rootfs node" "$here/build-rootfs.sh" node "$NODE_PACKAGES"
run_step "rootfs component" "$here/build-rootfs.sh" component "$COMPONENT_PACKAGES"
run_step "build kubernetes" "$here/build-kubernetes.sh"
run_step "build go tools" "$here/build-go-tools.sh"
run_step "build component images" "$here/build-images.sh"
run_step "assemble node image" "$here/build-node-image.sh"
date -u +%FT%TZ > "$TOOLCHAIN/READY"
step "offline toolchain ready in $((SECONDS - t0))s: $TOOLCHAIN, node image $NODE_IMAGE"
