"""The cluster ConfigMap: per-node server.properties and format files, from jinja2 templates.

For each pod `P` the ConfigMap holds `P.properties` (the broker's configuration, Kafka
property names) and `P.format` (cluster id, node id and, for controllers, the initial voter
set with directory ids: what `kafka-storage format --initial-controllers` takes), so one
ConfigMap mounted at /etc/millrace serves every pod and a pod picks its files by name.

Three layers, later wins: settings the operator derives from the Cluster's shape (node.id,
roles, listeners, the quorum, log.dirs, broker.rack; users may not set
these), operator defaults that depend on the cluster's size (internal topics' replication
factors), then `spec.config`.

`static_config_hash` covers exactly what a running broker cannot pick up without a restart
(user properties that are not dynamic, ports); it goes into the pod template so that such
a change makes the StatefulSet's pods out of date (pending restart), while dynamic
properties are applied through the admin protocol instead.
"""

from __future__ import annotations

from typing import Any

import jinja2

from millrace_operator.model.configkeys import is_dynamic_broker_key
from millrace_operator.render.context import LOG_DIR, RenderContext, stable_hash
from millrace_operator.render.layout import Node

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("millrace_operator.render", "templates"),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def _escape_property(value: object) -> str:
    """Java properties escaping for a value: backslashes, line breaks, leading blanks."""
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + text if text[:1] in (" ", "\t") else text


_ENV.filters["prop"] = _escape_property


def build_managed_settings(ctx: RenderContext, node: Node) -> dict[str, str]:
    """The properties the operator owns for `node`."""
    ports = ctx.spec.listeners
    dns = ctx.pod_dns(node)
    listeners: list[str] = []
    advertised: list[str] = []
    if node.is_broker:
        listeners.append(f"PLAINTEXT://:{ports.internal_port}")
        advertised.append(f"PLAINTEXT://{dns}:{ports.internal_port}")
    if node.is_controller:
        listeners.append(f"CONTROLLER://:{ports.controller_port}")
        advertised.append(f"CONTROLLER://{dns}:{ports.controller_port}")
    settings = {
        "process.roles": ",".join(node.roles),
        "node.id": str(node.node_id),
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": LOG_DIR,
    }
    if ctx.dynamic_quorum:
        settings["controller.quorum.bootstrap.servers"] = ctx.quorum_bootstrap_servers
    else:
        settings["controller.quorum.voters"] = ctx.quorum_voters
    if node.is_broker:
        settings["inter.broker.listener.name"] = "PLAINTEXT"
        settings["broker.rack"] = node.zone
    return settings


def build_default_settings(ctx: RenderContext) -> dict[str, str]:
    """Size-dependent defaults (Kafka's own defaults assume at least three brokers)."""
    rf = str(min(3, ctx.spec.replicas))
    isr = str(min(2, ctx.spec.replicas))
    return {
        "default.replication.factor": rf,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
    }


def build_server_properties(ctx: RenderContext, node: Node) -> str:
    """The server.properties text of `node`."""
    user = dict(ctx.spec.config)
    defaults = {k: v for k, v in build_default_settings(ctx).items() if k not in user}
    return _ENV.get_template("server.properties.j2").render(
        node=node,
        cluster=ctx.name,
        namespace=ctx.namespace,
        managed=sorted(build_managed_settings(ctx, node).items()),
        defaults=sorted(defaults.items()),
        user=sorted(user.items()),
    )


def build_initial_controllers(ctx: RenderContext) -> str:
    """`id@host:port:directoryId,...` of the initial voters (KIP-853 formatting)."""
    port = ctx.spec.listeners.controller_port
    return ",".join(
        f"{n.node_id}@{ctx.pod_dns(n)}:{port}:{ctx.identity.directory_ids.get(n.node_id, '')}"
        for n in ctx.layout.controllers
    )


def build_format_properties(ctx: RenderContext, node: Node) -> str:
    """The format file of `node`: cluster id, node id, initial voters for controllers."""
    return _ENV.get_template("format.properties.j2").render(
        node=node,
        cluster_id=ctx.identity.cluster_id,
        directory_id=ctx.identity.directory_ids.get(node.node_id, ""),
        initial_controllers=build_initial_controllers(ctx),
    )


def static_config_hash(ctx: RenderContext) -> str:
    """Hash of what needs a restart to change (see the module docstring)."""
    static = {k: v for k, v in ctx.spec.config.items() if not is_dynamic_broker_key(k)}
    static["__ports"] = f"{ctx.spec.listeners.internal_port}/{ctx.spec.listeners.controller_port}"
    return stable_hash(static)


def build_configmap(ctx: RenderContext) -> dict[str, Any]:
    """The ConfigMap with every node's properties and format files."""
    data: dict[str, str] = {}
    for node in ctx.layout.nodes:
        data[f"{node.pod}.properties"] = build_server_properties(ctx, node)
        data[f"{node.pod}.format"] = build_format_properties(ctx, node)
    data["cluster.id"] = ctx.identity.cluster_id
    for node_id, directory_id in sorted(ctx.identity.directory_ids.items()):
        data[f"directory.id.{node_id}"] = directory_id
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(ctx.config_map),
        "data": data,
    }
