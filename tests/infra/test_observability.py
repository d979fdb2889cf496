"""infra/observability/: the alert rules pass ``promtool`` (syntax and their unit tests), and every smguard metric
an alert or a dashboard panel uses is one the code defines — a renamed metric cannot leave a silent alert behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

import shared.http  # noqa: F401  (defines the HTTP metrics)
from shared.config import REPO_ROOT
from shared.metrics import READINGS

OBSERVABILITY = REPO_ROOT / "infra" / "observability"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def promtool() -> str:
    """Debian's promtool (package ``prometheus``; the setup of ``make test`` installs it), or SMGUARD_PROMTOOL."""
    path = os.environ.get("SMGUARD_PROMTOOL") or shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `make test` installs it (apt-get install prometheus), or set SMGUARD_PROMTOOL")
    return path


def run(*args: str) -> str:
    done = subprocess.run([promtool(), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def defined_series() -> set[str]:
    """Every series name the code exposes: its counters, histograms and gauges, and the scrape-time readings."""
    names = {r.name for r in READINGS}
    for family in REGISTRY.collect():
        if family.name.startswith("smguard_"):
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def used_series() -> dict[str, set[str]]:
    """The smguard series named in each alert expression and each dashboard panel query (Prometheus's own ``up``
    of the smguard job stands for itself)."""
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    exprs = {f"alert {r['alert']}": r["expr"] for g in rules["groups"] for r in g["rules"]}
    dashboard = json.loads((OBSERVABILITY / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            exprs[f"panel {panel['title']} {target['refId']}"] = target["expr"]
    return {
        where: set(re.findall(r"\bsmguard_[a-z_]+", expr)) or ({"up"} if 'up{job="smguard"}' in expr else set())
        for where, expr in exprs.items()
    }


def test_the_alert_rules_are_valid_and_pass_their_unit_tests() -> None:
    assert "SUCCESS" in run("check", "rules", "infra/observability/alerts.yml")
    assert "SUCCESS" in run("test", "rules", "infra/observability/alerts_test.yml")
    assert "SUCCESS" in run("check", "config", "infra/observability/prometheus.yml")


def test_every_metric_an_alert_or_panel_uses_is_defined_by_the_code() -> None:
    used, defined = used_series(), defined_series() | {"up"}
    assert all(used.values()), [where for where, names in used.items() if not names]  # each uses a smguard metric
    unknown = {where: names - defined for where, names in used.items() if names - defined}
    assert unknown == {}
    every = set().union(*used.values())
    shown = {name for name in defined if any(name == u or u.startswith(name) for u in every)}
    assert {r.name for r in READINGS} <= shown  # no reading is left off both the dashboard and the alerts


def test_every_alert_has_a_runbook_entry_in_the_operations_guide() -> None:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    headings = {m.lower() for m in re.findall(r"^### (Smguard\w+)$", guide, flags=re.MULTILINE)}
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["alert"].lower() in headings, rule["alert"]
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
