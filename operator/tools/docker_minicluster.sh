#!/usr/bin/env bash
# Run the nodes the operator renders for a Cluster manifest as plain Docker containers
# (no Kubernetes): one container per pod on a Docker network whose aliases are the pods'
# DNS names, with the rendered ConfigMap files mounted at /etc/millrace. Checks that every
# node becomes ready (the pods' readiness probe) and prints the quorum the operator sees.
#
#   operator/tools/docker_minicluster.sh BROKER_IMAGE OPERATOR_IMAGE [cluster.yaml]
#
# Images as built by the root Dockerfile and broker-image/Dockerfile. Cleans up on exit.
set -euo pipefail
BROKER_IMAGE=${1:?broker image}; OPERATOR_IMAGE=${2:?operator image}
MANIFEST=${3:-$(dirname "$0")/../../examples/cluster.yaml}
NET=millrace-minicluster-$$
D=$(mktemp -d)
NAMES=()
cleanup() {
  for n in "${NAMES[@]}"; do docker rm -f "$n" >/dev/null 2>&1 || true; done
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT
python3 - "$MANIFEST" "$D" <<'PY'
import pathlib, sys, yaml
from millrace_operator.model.cluster import Cluster
from millrace_operator.reconcile.cluster import new_kafka_id
from millrace_operator.render import Identity, RenderContext
from millrace_operator.render.config import build_configmap
from millrace_operator.render.layout import build_layout
doc = yaml.safe_load(open(sys.argv[1]))
out = pathlib.Path(sys.argv[2])
cluster = Cluster.model_validate(doc)
name = doc["metadata"]["name"]
zones = tuple(cluster.spec.zones.names) or ("zone-a",)
layout = build_layout(name, cluster.spec, list(zones))
identity = Identity(new_kafka_id(), {n.node_id: new_kafka_id() for n in layout.controllers})
ctx = RenderContext(name=name, namespace="default", uid="uid", spec=cluster.spec, zones=zones,
                    identity=identity)
(out / "etc").mkdir()
for key, value in build_configmap(ctx)["data"].items():
    (out / "etc" / key).write_text(value)
(out / "pods").write_text("\n".join(f"{n.pod} {ctx.pod_dns(n)}" for n in layout.nodes) + "\n")
(out / "cluster.id").write_text(identity.cluster_id)
(out / "bootstrap").write_text(ctx.pod_dns(layout.brokers[0]))
PY
chmod -R a+rX "$D"
docker network create "$NET" >/dev/null
CID=$(cat "$D/cluster.id")
while read -r pod dns; do
  NAMES+=("$NET-$pod")
  docker run -d --name "$NET-$pod" --network "$NET" --network-alias "$dns" --read-only \
    --tmpfs /tmp -v "$D/etc:/etc/millrace:ro" -e POD_NAME="$pod" "$BROKER_IMAGE" \
    "/etc/millrace/$pod.properties" --cluster-id "$CID" >/dev/null
done < "$D/pods"
while read -r pod _; do
  for _ in $(seq 60); do
    docker exec "$NET-$pod" python3 -m millrace_operator.nodeprobe ready \
      "/etc/millrace/$pod.properties" >/dev/null 2>&1 && break
    sleep 2
  done
  docker exec "$NET-$pod" python3 -m millrace_operator.nodeprobe ready \
    "/etc/millrace/$pod.properties" || { docker logs "$NET-$pod" | tail -20; exit 1; }
  echo "ready: $pod"
done < "$D/pods"
docker run --rm --network "$NET" --entrypoint python3 "$OPERATOR_IMAGE" -c "
import asyncio
from millrace_operator.kafkaclient import KafkaConnection
from millrace_operator.observe.kafka import observe_broker_view
async def main():
    async with KafkaConnection('$(cat "$D/bootstrap")', 9092) as conn:
        print(await observe_broker_view(conn))
asyncio.run(main())"
