"""The Kopf wiring: handlers register for both resources; settings come from the env."""

from __future__ import annotations

import kopf

import millrace_operator.handlers  # noqa: F401  (registers)
from millrace_operator.kubeapi import resource_path, selector
from millrace_operator.metrics import result_label
from millrace_operator.plans.common import Blocked
from millrace_operator.plans.topics import CreateTopic
from millrace_operator.reconcile.common import status_patch
from millrace_operator.settings import Settings


def test_handlers_are_registered() -> None:
    registry = kopf.get_default_registry()
    changing = [h.selector.any_name for h in registry._changing.get_all_handlers()]
    assert sorted(changing) == ["clusters"] * 4 + ["topics"] * 4  # create/update/resume/delete
    timers = sorted(h.selector.any_name for h in registry._spawning.get_all_handlers())
    assert timers == ["clusters", "topics"]


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            "MILLRACE_WATCH_NAMESPACES": "a, b,",
            "MILLRACE_PEERING": "p",
            "MILLRACE_HTTP_PORT": "9000",
        }
    )
    assert s.namespaces == ("a", "b") and s.peering == "p" and s.http_port == 9000
    assert Settings.from_env({}).namespaces == ()


def test_resource_paths() -> None:
    assert resource_path("Pod", "ns") == "/api/v1/namespaces/ns/pods"
    assert resource_path("StatefulSet", "ns", "x") == "/apis/apps/v1/namespaces/ns/statefulsets/x"
    assert resource_path("Node", None) == "/api/v1/nodes"
    assert resource_path("Cluster", "ns", "c", "status") == (
        "/apis/millrace.io/v1alpha1/namespaces/ns/clusters/c/status"
    )
    assert selector({"b": "2", "a": "1"}) == "a=1,b=2"


def test_result_labels() -> None:
    assert result_label(None) == "in_sync"
    assert result_label(Blocked("X", "y")) == "blocked"
    assert result_label(CreateTopic("t", 1, 1, {})) == "create_topic"


def test_status_patch_drops_nulls_only_inside_lists() -> None:
    """A merge patch removes fields with None, but None inside a list item is pruned by
    the API server (Kopf then logs an inconsistent patch every pass)."""
    status = {
        "operation": None,
        "brokers": [{"nodeId": 1, "version": None, "roles": [{"a": None}]}],
        "quorum": {"leader": None, "voters": [{"id": 1, "dir": None}]},
    }
    assert status_patch(status) == {
        "operation": None,
        "brokers": [{"nodeId": 1, "roles": [{}]}],
        "quorum": {"leader": None, "voters": [{"id": 1}]},
    }
