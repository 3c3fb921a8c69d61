"""A small asyncio Kubernetes API client over aiohttp (a dependency of Kopf).

The operator needs few verbs: get, list (label selectors), server-side apply, merge-patch
of status, delete. Credentials come from Kopf's own login helpers (`ConnectionInfo`: the
pod's service account in the cluster, or the kubeconfig elsewhere), so there is one
notion of "how we reach the API server". `resource_path` is pure and tested.

`KubeReader` / `KubeWriter` are the seams observe/actuate use; tests give them an
in-memory fake (a real API server cannot run in unit tests).
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any, Final, Protocol

import aiohttp
import kopf

FIELD_MANAGER: Final = "millrace-operator"

# kind -> (apiVersion, plural, namespaced)
KINDS: Final[Mapping[str, tuple[str, str, bool]]] = {
    "ConfigMap": ("v1", "configmaps", True),
    "Service": ("v1", "services", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Pod": ("v1", "pods", True),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims", True),
    "Node": ("v1", "nodes", False),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "StorageClass": ("storage.k8s.io/v1", "storageclasses", False),
    "Cluster": ("millrace.io/v1alpha1", "clusters", True),
    "Topic": ("millrace.io/v1alpha1", "topics", True),
}


class KubeError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def resource_path(
    kind: str, namespace: str | None = None, name: str | None = None, subresource: str = ""
) -> str:
    """The REST path of a collection or object of `kind`."""
    api_version, plural, namespaced = KINDS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced:
        if namespace is None:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        base += f"/namespaces/{namespace}"
    path = f"{base}/{plural}"
    if name is not None:
        path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
    return path


def selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class KubeReader(Protocol):
    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def list(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...


class KubeWriter(Protocol):
    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]: ...

    async def delete(self, kind: str, namespace: str | None, name: str) -> None: ...


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=str(info.ca_path) if info.ca_path else None)
    if info.ca_data:
        data = info.ca_data if isinstance(info.ca_data, str) else info.ca_data.decode()
        if "BEGIN CERTIFICATE" not in data:
            data = base64.b64decode(data).decode()
        context.load_verify_locations(cadata=data)
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        cert, key = _temp_file(info.certificate_data), _temp_file(info.private_key_data)
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context


def _temp_file(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" not in raw:
        raw = base64.b64decode(raw)
    with tempfile.NamedTemporaryFile(delete=False, suffix=".pem") as handle:
        handle.write(raw)
        return handle.name


class KubeApi:
    """The client: `async with KubeApi(info) as api: await api.get("Pod", ns, name)`."""

    def __init__(self, info: kopf.ConnectionInfo, *, timeout: float = 30.0) -> None:
        self._info = info
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeApi:
        headers = {"Accept": "application/json", "User-Agent": FIELD_MANAGER}
        if self._info.token:
            headers["Authorization"] = f"Bearer {self._info.token}"
        auth = None
        if self._info.username and self._info.password:
            auth = aiohttp.BasicAuth(self._info.username, self._info.password)
        self._session = aiohttp.ClientSession(
            base_url=self._info.server.rstrip("/"),
            headers=headers,
            auth=auth,
            connector=aiohttp.TCPConnector(ssl=_ssl_context(self._info)),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        if self._session is None:
            raise RuntimeError("KubeApi used outside `async with`")
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self._session.request(
            method, path, params=params, data=data, headers=headers
        ) as response:
            text = await response.text()
            if response.status == 404 and method in ("GET", "DELETE"):
                return None
            if response.status >= 300:
                try:
                    message = json.loads(text).get("message", text)
                except ValueError:
                    message = text
                raise KubeError(response.status, str(message))
            result: dict[str, Any] = json.loads(text) if text else {}
            return result

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await self._request("GET", resource_path(kind, namespace, name))

    async def list(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": selector(labels)} if labels else None
        result = await self._request("GET", resource_path(kind, namespace), params=params)
        items: list[dict[str, Any]] = (result or {}).get("items", [])
        return items

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply (field manager millrace-operator, forced)."""
        meta = obj["metadata"]
        path = resource_path(obj["kind"], meta.get("namespace"), meta["name"])
        result = await self._request(
            "PATCH",
            path,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return result or {}

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        await self._request("DELETE", resource_path(kind, namespace, name))
