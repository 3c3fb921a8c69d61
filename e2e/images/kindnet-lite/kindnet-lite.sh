#!/bin/bash
# kindnet-lite: the pod network of the offline e2e cluster (kind's kindnetd cannot be built
# from a registry here). Same contract as kindnetd: runs on every node with hostNetwork,
# writes the CNI config (ptp + host-local over the node's podCIDR, portmap), routes every
# other node's podCIDR via that node's InternalIP, and masquerades pod traffic leaving the
# pod network. Level-based: every pass recomputes everything from the node list.
set -uo pipefail
NODE=${NODE_NAME:?NODE_NAME must be set (downward API spec.nodeName)}
POD_SUBNET=${POD_SUBNET:-10.244.0.0/16}
CNI_CONF=/etc/cni/net.d/10-kindnet.conflist
INTERVAL=${RESYNC_SECONDS:-5}
log() { echo "$(date -u +%FT%TZ) kindnet-lite: $*"; }
# kind passes the API server's address: talk to it directly, before kube-proxy is up.
if [[ -n ${CONTROL_PLANE_ENDPOINT:-} ]]; then
  export KUBERNETES_SERVICE_HOST=${CONTROL_PLANE_ENDPOINT%:*} KUBERNETES_SERVICE_PORT=${CONTROL_PLANE_ENDPOINT##*:}
fi

write_cni_config() {  # $1 = this node's podCIDR
  local tmp="$CNI_CONF.tmp"
  cat > "$tmp" <<JSON
{
  "cniVersion": "0.3.1",
  "name": "kindnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [ { "dst": "0.0.0.0/0" } ],
        "ranges": [ [ { "subnet": "$1" } ] ]
      },
      "mtu": 1500
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  if ! cmp -s "$tmp" "$CNI_CONF"; then mv "$tmp" "$CNI_CONF"; log "wrote $CNI_CONF for $1"; else rm -f "$tmp"; fi
}

ensure_masquerade() {
  iptables -t nat -N KINDNET-LITE-MASQ 2>/dev/null || true
  iptables -t nat -C POSTROUTING -m comment --comment kindnet-lite -j KINDNET-LITE-MASQ 2>/dev/null ||
    iptables -t nat -A POSTROUTING -m comment --comment kindnet-lite -j KINDNET-LITE-MASQ
  iptables -t nat -C KINDNET-LITE-MASQ -d "$POD_SUBNET" -j RETURN 2>/dev/null ||
    iptables -t nat -A KINDNET-LITE-MASQ -d "$POD_SUBNET" -j RETURN
  iptables -t nat -C KINDNET-LITE-MASQ -s "$POD_SUBNET" -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A KINDNET-LITE-MASQ -s "$POD_SUBNET" -j MASQUERADE
}

sync_once() {
  local nodes
  nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}') || {
    log "cannot list nodes (will retry)"; return 1; }
  local name cidr ip
  while read -r name cidr ip; do
    [[ -z $name || -z $cidr ]] && continue
    if [[ $name == "$NODE" ]]; then
      write_cni_config "$cidr"
    elif [[ -n $ip ]]; then
      if [[ $(ip route show "$cidr") != *"via $ip "* ]]; then
        ip route replace "$cidr" via "$ip" && log "route $cidr via $ip ($name)"
      fi
    fi
  done <<< "$nodes"
  ensure_masquerade
}

log "starting on node $NODE, pod subnet $POD_SUBNET"
trap 'log "stopping"; exit 0' TERM INT
while true; do
  sync_once
  sleep "$INTERVAL" & wait $!
done
