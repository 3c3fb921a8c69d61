"""Shared pieces of the CRD models: the API group, the base model, conditions.

Every model is a pydantic v2 model with camelCase aliases (the Kubernetes convention) that
also accepts snake_case names from Python code. Field descriptions become the text
`kubectl explain` shows; constraints become OpenAPI v3 constraints in the generated CRDs.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP: Final = "millrace.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"


class KubeModel(BaseModel):
    """Base of every CRD model: camelCase on the wire, snake_case in Python, no extras."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_api(self) -> dict[str, object]:
        """The object as the API server stores it: camelCase, unset optionals omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(description="Condition type: Ready, Progressing or Degraded.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="One CamelCase word naming why the condition has this status.",
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        max_length=1024,
    )
    message: str = Field(
        default="", description="What happened and, when something is wrong, the fix."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this condition reflects."
    )
    last_transition_time: datetime | None = Field(
        default=None, description="When the status of this condition last changed."
    )


class ObjectRef(KubeModel):
    """A reference to an object in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        description="Name of the object, in the same namespace as the referring resource.",
    )


def with_rules(*rules: dict[str, str], extra: str = "forbid") -> ConfigDict:
    """The base model config plus CEL rules (`x-kubernetes-validations`) for the CRD."""
    schema_extra: dict[str, Any] = {}
    if rules:
        schema_extra["x-kubernetes-validations"] = [dict(r) for r in rules]
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore" if extra == "ignore" else "forbid",
        json_schema_extra=schema_extra or None,
    )


def stringify_values(value: Any) -> Any:
    """Config maps accept YAML numbers and booleans; Kafka wants strings ("true", "24")."""
    if isinstance(value, dict):
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
    return value
