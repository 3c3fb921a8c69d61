#!/usr/bin/env bash
# Assembles the kind node image offline, doing what kind's `build node-image`
# (pkg/build/nodeimage) does but taking every image from the local Docker engine instead
# of a registry:
#   1. base image: Debian rootfs + kind's images/base files (entrypoint, units, config)
#   2. in a build container: kubeadm/kubelet/kubectl in /usr/bin, /kind/version,
#      /kind/manifests/default-{cni,storage}.yaml, containerd's sandbox image
#   3. start containerd there and import every image kubeadm and the manifests need
#      (pinned, not unpacked), then commit the container as $NODE_IMAGE.
source "$(dirname "$0")/lib.sh"
have() { docker image inspect "$1" >/dev/null 2>&1; }
LABEL=io.millrace.e2e=toolchain
if have "$NODE_IMAGE" && [[ ${1:-} != --force ]]; then echo "$NODE_IMAGE present"; exit 0; fi

KIND_BASE=local/millrace-kind-base:$K8S_VERSION
if ! have "$KIND_BASE"; then
  kind_mod=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d $kind_mod/images/base/files ]] || die "kind module has no images/base/files ($kind_mod)"
  d=$TOOLCHAIN/ctx/kind-base; rm -rf "$d"; mkdir -p "$d"
  cp -r "$E2E_DIR/images/node/Dockerfile" "$d/"
  cp -r "$kind_mod/images/base/files" "$d/kind-files"; chmod -R u+w "$d/kind-files"
  cp "$BIN/crictl" "$d/"
  docker build -q --label "$LABEL" -t "$KIND_BASE" "$d" >/dev/null
fi

images=(
  "registry.k8s.io/kube-apiserver:$K8S_VERSION"
  "registry.k8s.io/kube-controller-manager:$K8S_VERSION"
  "registry.k8s.io/kube-scheduler:$K8S_VERSION"
  "registry.k8s.io/kube-proxy:$K8S_VERSION"
  "registry.k8s.io/etcd:$ETCD_IMAGE_TAG"
  "registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
  "registry.k8s.io/pause:$PAUSE_IMAGE_TAG"
  "$KINDNET_IMAGE" "$STORAGE_PROVISIONER_IMAGE" "$STORAGE_HELPER_IMAGE"
)
for i in "${images[@]}"; do have "$i" || die "image $i missing (run build-images.sh)"; done

c=millrace-node-build
docker rm -f "$c" >/dev/null 2>&1 || true
trap 'docker rm -f "$c" >/dev/null 2>&1 || true' EXIT
docker run -d --name "$c" --entrypoint=sleep --security-opt seccomp=unconfined "$KIND_BASE" infinity >/dev/null
for b in kubeadm kubelet kubectl; do docker cp "$BIN/$b" "$c:/usr/bin/$b"; done
docker exec "$c" chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl
docker exec "$c" sh -c "printf %s '$K8S_VERSION' > /kind/version && mkdir -p /kind/manifests"
# kubeadm must agree with what we import
want=$(docker exec "$c" kubeadm config images list --kubernetes-version "$K8S_VERSION" | sort)
for w in $want; do printf '%s\n' "${images[@]}" | grep -qx "$w" || die "kubeadm wants $w, which is not built"; done
sed -e "s#__KINDNET_IMAGE__#$KINDNET_IMAGE#" "$E2E_DIR/images/node/default-cni.yaml" |
  docker exec -i "$c" sh -c 'cat > /kind/manifests/default-cni.yaml'
sed -e "s#__STORAGE_PROVISIONER_IMAGE__#$STORAGE_PROVISIONER_IMAGE#; s#__STORAGE_HELPER_IMAGE__#$STORAGE_HELPER_IMAGE#" \
  "$E2E_DIR/images/node/default-storage.yaml" | docker exec -i "$c" sh -c 'cat > /kind/manifests/default-storage.yaml'
docker exec "$c" sed -i "s#sandbox_image = .*#sandbox_image = \"registry.k8s.io/pause:$PAUSE_IMAGE_TAG\"#" /etc/containerd/config.toml
# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which a node container may lack
# (hosts whose capability bounding set drops it, rootless Docker): runc then fails every
# pod sandbox ("can't get final child's PID from pipe: EOF"). Clamp as kind does rootless.
docker exec "$c" sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml

docker exec "$c" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
for _ in $(seq 1 30); do docker exec "$c" ctr version >/dev/null 2>&1 && break; sleep 1; done
docker exec "$c" ctr version >/dev/null || die "containerd did not start in the build container"
for i in "${images[@]}"; do
  echo "importing $i"
  docker save "$i" | docker exec -i "$c" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
done
docker exec "$c" ctr --namespace=k8s.io images list -q | grep -v -e '^sha256:' -e '^import-' | sort
docker exec "$c" pkill containerd || true
sleep 2
docker exec "$c" rm -rf /var/log/containerd-build.log /tmp/* || true
docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
  --change "LABEL $LABEL" "$c" "$NODE_IMAGE" >/dev/null
echo "built $NODE_IMAGE"
