"""Value types shared by events of several services (closed vocabularies of the agreement)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["low", "medium", "high", "critical"]
Party = Literal["utility", "operator"]
Direction = Literal["utility_to_operator", "operator_to_utility"]
Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
BlockReason = Literal["serious_vulnerability", "unauthorized_access", "abnormal_communication"]
AnomalyType = Literal["unauthorized_access", "abnormal_communication"]
PolicyMode = Literal["auto", "recommend", "off"]
IncidentCategory = Literal[
    "security_incident",
    "terminal_loss",
    "credential_leak",
    "vulnerability",
    "unauthorized_access",
    "abnormal_communication",
    "other",
]
UtilityAssetKind = Literal["smart_meter", "sm_network", "hes", "mdms", "wheeling_system", "public_server"]
OperatorAssetKind = Literal["special_meter", "wireless_terminal", "iot_route", "external_server"]
AssetKind = Literal[
    "smart_meter",
    "sm_network",
    "hes",
    "mdms",
    "wheeling_system",
    "public_server",
    "special_meter",
    "wireless_terminal",
    "iot_route",
    "external_server",
]
UTILITY_ASSET_KINDS: frozenset[str] = frozenset(UtilityAssetKind.__args__)  # type: ignore[attr-defined]
OPERATOR_ASSET_KINDS: frozenset[str] = frozenset(OperatorAssetKind.__args__)  # type: ignore[attr-defined]


def responsible_side(kind: str) -> Party:
    """Part 4 of the agreement: who is responsible for an asset follows from its kind alone."""
    if kind in UTILITY_ASSET_KINDS:
        return "utility"
    if kind in OPERATOR_ASSET_KINDS:
        return "operator"
    raise ValueError(f"unknown asset kind {kind!r}")


class Value(BaseModel):
    """A frozen value inside an event; tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(Value):
    """Who decided: a person (token subject and role) or a policy of the utility."""

    kind: Literal["person", "policy", "system"]
    id: str
    role: str | None = None
