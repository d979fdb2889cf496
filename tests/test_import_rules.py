"""The layering every service keeps, checked on the imports themselves (stdlib ``ast``, no import is run).

- no service imports another service (they meet on the event topics only);
- ``domain/`` does no I/O: no Kafka, HTTP, SQLite, asyncio, nor the shared modules that do;
- ``application/`` speaks no HTTP and no Kafka client (routes and adapters translate);
- ``projections/`` import neither FastAPI nor aiokafka;
- ``shared/`` imports no service.
"""

from __future__ import annotations

import ast
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from shared.config import REPO_ROOT

IO = ("aiokafka", "faust", "fastapi", "starlette", "httpx", "sqlite3", "uvicorn", "aiosmtplib", "aiosmtpd", "asyncio")
SHARED_IO = ("shared.http", "shared.auth", "shared.runtime", "shared.kafka", "shared.eventstore.kafka",
             "shared.localbroker", "shared.processes", "shared.streams", "shared.replay", "shared.cli")  # fmt: skip
FORBIDDEN = {
    "domain": IO + SHARED_IO,
    "application": ("fastapi", "starlette", "aiokafka", "faust", "shared.http", "shared.auth"),
    "projections": ("fastapi", "starlette", "aiokafka", "faust", "shared.http", "shared.auth"),
}


def imported(source: str, module: str) -> list[tuple[int, str]]:
    """Every module a source file imports (relative imports resolved against ``module``), with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            found.append((node.lineno, base))
    return found


def violations(path: Path, source: str) -> list[str]:
    """The rules a file breaks, as ``file:line imports X (rule)``."""
    relative = path.relative_to(REPO_ROOT)
    parts = relative.with_suffix("").parts
    module = ".".join(parts)
    broken = []
    for line, name in imported(source, module):
        where = f"{relative}:{line} imports {name}"
        if parts[0] == "shared" and _within(name, ("services",)):
            broken.append(f"{where} (shared/ imports no service)")
        if parts[0] != "services" or len(parts) < 3:
            continue
        service = parts[1]
        if name.startswith("services.") and name.split(".")[1] != service:
            broken.append(f"{where} (a service imports no other service)")
        layer = parts[2]
        if layer in FORBIDDEN and _within(name, FORBIDDEN[layer]):
            broken.append(f"{where} ({layer}/ may not import it)")
    return broken


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def code_files() -> list[Path]:
    return sorted(p for folder in ("services", "shared") for p in (REPO_ROOT / folder).rglob("*.py"))


def check(cases: list[tuple[str, str]]) -> list[list[str]]:
    """The violations of each (path, source) — parsed in a fresh interpreter.

    CPython 3.11's ``ast.parse`` can fail with "AST constructor recursion depth mismatch" in a
    process whose recursion bookkeeping earlier code disturbed; a spawned worker starts clean.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_check, cases).result()


def _check(cases: list[tuple[str, str]]) -> list[list[str]]:
    return [violations(REPO_ROOT / path, source) for path, source in cases]


def test_every_service_and_shared_module_keeps_the_import_rules() -> None:
    cases = [(str(path.relative_to(REPO_ROOT)), path.read_text(encoding="utf-8")) for path in code_files()]
    assert [v for found in check(cases) for v in found] == []


@pytest.mark.parametrize(
    ("path", "source", "rule"),
    [
        ("services/incident/domain/model.py", "import aiokafka\n", "domain/ may not import it"),
        ("services/incident/domain/model.py", "from shared.http import context_of\n", "domain/ may not import it"),
        ("services/incident/application/handlers.py", "from ..adapters import x\nfrom services.connection.domain import y\n",
         "a service imports no other service"),
        ("services/notification/projections/views.py", "from fastapi.encoders import jsonable_encoder\n",
         "projections/ may not import it"),
        ("services/connection/application/handlers.py", "from shared.http import not_found\n", "application/ may not import it"),
        ("shared/cli/replay.py", "from services.audit import replay\n", "shared/ imports no service"),
    ],
)
def test_the_check_finds_each_kind_of_broken_rule(path: str, source: str, rule: str) -> None:
    [found] = check([(path, source)])
    assert any(rule in v for v in found)


def test_a_service_may_import_itself_and_shared() -> None:
    source = "from services.incident.domain.model import Incident\nfrom shared.domain import Aggregate\nfrom . import values\n"
    assert check([("services/incident/domain/commands.py", source)]) == [[]]
