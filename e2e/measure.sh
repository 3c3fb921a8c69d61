#!/usr/bin/env bash
# Prints the footprint of the e2e toolchain and of the running e2e cluster:
# disk (cache, images, node containers' volumes) and RAM (node containers' memory).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
source "$E2E_DIR/versions.env"
CACHE=${MILLRACE_CACHE:-$HOME/.cache/millrace}
CLUSTER=${MILLRACE_E2E_CLUSTER:-millrace-e2e}
echo "== disk"
du -sh "$CACHE" "$CACHE"/go "$CACHE"/rootfs "$CACHE"/toolchain-* 2>/dev/null || true
docker image inspect "$NODE_IMAGE" --format "node image $NODE_IMAGE: {{.Size}} bytes" 2>/dev/null || true
docker system df
ids=$(docker ps -q --filter "label=io.x-k8s.kind.cluster=$CLUSTER")
if [[ -n $ids ]]; then
  echo "== node containers (size = writable layer; /var volumes below)"
  docker ps -s --filter "label=io.x-k8s.kind.cluster=$CLUSTER" --format '{{.Names}} {{.Size}}'
  for id in $ids; do
    docker inspect "$id" --format '{{range .Mounts}}{{if eq .Destination "/var"}}{{.Source}}{{end}}{{end}}' | xargs -r du -sh
  done
  echo "== RAM of the running cluster"
  docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $ids
  docker stats --no-stream --format '{{.MemUsage}}' $ids | awk '{v=$1; u=v; gsub(/[0-9.]/,"",u); gsub(/[^0-9.]/,"",v);
    m = (u=="GiB") ? v*1024 : (u=="KiB" ? v/1024 : v); t+=m} END {printf "total: %.0f MiB\n", t}'
fi
