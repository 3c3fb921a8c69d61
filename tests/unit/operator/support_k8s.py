"""Test support: Kubernetes' own OpenAPI definitions (strict) and a helm binary.

Neither is downloaded here. Kubernetes' `api/openapi-spec/swagger.json` comes from the Go
module k8s.io/kubernetes (the e2e toolchain already has it in the Go module cache; or
`go mod download k8s.io/kubernetes@v1.34.4`); helm is built by the e2e toolchain
(`e2e/toolchain/build-go-tools.sh helm` -> ~/.cache/millrace/toolchain-*/bin/helm).
Tests that need one fail with that instruction when it is missing: they are not skipped.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

K8S_VERSION = "v1.34.4"
HOW_TO_GET_OPENAPI = (
    "Kubernetes' OpenAPI definitions (swagger.json) not found: run "
    f"`go mod download k8s.io/kubernetes@{K8S_VERSION}` (or e2e/cluster.sh toolchain), or "
    "point MILLRACE_K8S_OPENAPI at api/openapi-spec/swagger.json"
)
HOW_TO_GET_HELM = (
    "helm not found: build it with `e2e/toolchain/build-go-tools.sh helm` (installs "
    "~/.cache/millrace/toolchain-*/bin/helm from Go modules), put helm on PATH, or set "
    "MILLRACE_HELM to its path"
)


def _go_mod_cache() -> list[str]:
    roots = [os.path.expanduser("~/.cache/millrace/go/mod"), os.path.expanduser("~/go/pkg/mod")]
    go = shutil.which("go")
    if go:
        out = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            roots.insert(0, out.stdout.strip())
    return roots


def find_openapi() -> Path | None:
    explicit = os.environ.get("MILLRACE_K8S_OPENAPI")
    if explicit:
        return Path(explicit)
    for root in _go_mod_cache():
        hits = sorted(glob.glob(f"{root}/k8s.io/kubernetes@v1.3*/api/openapi-spec/swagger.json"))
        if hits:
            return Path(hits[-1])
    return None


def find_helm() -> str | None:
    explicit = os.environ.get("MILLRACE_HELM")
    if explicit:
        return explicit
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    hits = sorted(glob.glob(os.path.expanduser("~/.cache/millrace/toolchain-*/bin/helm")))
    return hits[-1] if hits else None


def require_helm() -> str:
    helm = find_helm()
    if helm is None:
        pytest.fail(HOW_TO_GET_HELM, pytrace=False)
    return helm


def _strict(node: Any) -> Any:
    """Every object definition rejects unknown fields (like kubeconform -strict)."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def _definitions() -> dict[str, Any]:
    path = find_openapi()
    if path is None or not path.exists():
        pytest.fail(HOW_TO_GET_OPENAPI, pytrace=False)
    definitions: dict[str, Any] = json.loads(path.read_text())["definitions"]
    strict = _strict(definitions)
    strict["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string"]}
    strict["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["integer", "string"]}
    return dict(strict)


def _index() -> dict[tuple[str, str], str]:
    index: dict[tuple[str, str], str] = {}
    for name, definition in _definitions().items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group = gvk["group"]
            api_version = f"{group}/{gvk['version']}" if group else gvk["version"]
            index[(api_version, gvk["kind"])] = name
    return index


def validate_object(obj: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` if `obj` is not a valid Kubernetes object."""
    name = _index().get((obj["apiVersion"], obj["kind"]))
    assert name is not None, f"unknown kind {obj['apiVersion']} {obj['kind']}"
    schema = {"$ref": f"#/definitions/{name}", "definitions": _definitions()}
    jsonschema.Draft4Validator(schema).validate(obj)
