"""Reading a bulk registration: a JSON array of ``ConnectionCreate`` objects, or CSV with a header row.

Pure (no I/O): bytes in, one ``Row`` per record out, each either a valid ``ConnectionCreate`` or the
errors that make it invalid — where and why, never the value (it could be a password). What makes
the whole request unreadable (not JSON or CSV, not an array, no header, unknown columns, too many
rows) is a ``BulkRefused`` with the status the edge answers.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.connection.entrypoints.schemas import ConnectionCreate

SECRET_COLUMNS = ("auth_id", "password", "pairing_id")
REQUIRED_COLUMNS = ("kind", "maker", "model", "firmware", *SECRET_COLUMNS)
OPTIONAL_COLUMNS = ("smart_meter_ids", "operator_id")
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
METER_SEPARATOR = ";"
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")


class BulkRefused(Exception):
    """The request as a whole cannot be read, or is over a bound: nothing is registered (``status``, ``code``)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class Row:
    """One record of the request (``row`` counts from 1): valid (``body``) or not (``errors``).

    ``operator_id`` is the tenant the record names, as given (even when the record is invalid): an
    operator naming another is refused for the whole request.
    """

    row: int
    body: ConnectionCreate | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    operator_id: str | None = None


def rows_of(content_type: str | None, body: bytes, *, max_rows: int) -> list[Row]:
    """The records of a request body by its ``Content-Type`` (JSON or CSV); BulkRefused when unreadable."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in JSON_TYPES:
        return rows_of_json(body, max_rows=max_rows)
    if media in CSV_TYPES:
        return rows_of_csv(body, max_rows=max_rows)
    raise BulkRefused(
        415, "unsupported_media_type",
        "send a JSON array (Content-Type: application/json) or CSV with a header row (Content-Type: text/csv)",
    )  # fmt: skip


def rows_of_json(body: bytes, *, max_rows: int) -> list[Row]:
    """A JSON array of the objects ``POST /connections`` takes, one row each."""
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BulkRefused(400, "invalid_input", f"the body is not JSON ({type(exc).__name__} at position {_position(exc)})")
    if not isinstance(items, list):
        raise BulkRefused(422, "invalid_input", "the body must be a JSON array of connections")
    _bounded(len(items), max_rows)
    return _some([_row(n, item) for n, item in enumerate(items, start=1)])


def rows_of_csv(body: bytes, *, max_rows: int) -> list[Row]:
    """CSV (UTF-8, with or without a byte-order mark) with a header row naming ``COLUMNS``; blank lines are skipped.

    ``smart_meter_ids`` holds the meters separated by ``;``; an empty ``operator_id`` is none.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BulkRefused(422, "invalid_input", f"the CSV is not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise BulkRefused(422, "invalid_input", "the CSV has no header row (columns: " + ", ".join(COLUMNS) + ")")
        columns = _columns(header)
        rows: list[Row] = []
        for record in reader:
            if not any(value.strip() for value in record):
                continue
            _bounded(len(rows) + 1, max_rows)
            rows.append(_csv_row(len(rows) + 1, columns, record))
    except csv.Error as exc:
        raise BulkRefused(422, "invalid_input", f"the CSV cannot be read at line {reader.line_num}: {exc}") from None
    return _some(rows)


def _columns(header: list[str]) -> list[str]:
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:10])
        raise BulkRefused(422, "invalid_input", f"unknown CSV column(s) {shown}; the columns are " + ", ".join(COLUMNS))
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BulkRefused(422, "invalid_input", "CSV column(s) named twice: " + ", ".join(twice))
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise BulkRefused(422, "invalid_input", "the CSV lacks the column(s) " + ", ".join(missing))
    return names


def _csv_row(n: int, columns: list[str], record: list[str]) -> Row:
    if len(record) != len(columns):
        error = {"loc": [], "msg": f"the record has {len(record)} fields, the header {len(columns)}", "type": "csv_fields"}
        return Row(n, errors=[error])
    values = dict(zip(columns, record))
    operator = values.get("operator_id", "").strip() or None
    item: dict[str, Any] = {
        "kind": values["kind"].strip(), "maker": values["maker"], "model": values["model"], "firmware": values["firmware"],
        "smart_meter_ids": [m.strip() for m in values.get("smart_meter_ids", "").split(METER_SEPARATOR) if m.strip()],
        "secrets": {name: values[name] for name in SECRET_COLUMNS},
    }  # fmt: skip
    if operator is not None:
        item["operator_id"] = operator
    row = _row(n, item)
    # the CSV has no "secrets" object: name the column
    errors = [{**e, "loc": e["loc"][1:] if e["loc"][:1] == ["secrets"] else e["loc"]} for e in row.errors]
    return Row(n, row.body, errors, row.operator_id)


def _row(n: int, item: Any) -> Row:
    operator = item.get("operator_id") if isinstance(item, dict) else None
    operator = operator if isinstance(operator, str) else None
    try:
        return Row(n, ConnectionCreate.model_validate(item), operator_id=operator)
    except ValidationError as exc:
        return Row(n, errors=redacted(exc), operator_id=operator)


def redacted(exc: ValidationError) -> list[dict[str, Any]]:
    """Where and why a record is invalid, never its values."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _bounded(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise BulkRefused(
            413, "too_many_rows",
            f"more than {max_rows} rows in one request (SMGUARD_MAX_BULK_ROWS): split it into several",
        )  # fmt: skip


def _some(rows: list[Row]) -> list[Row]:
    if not rows:
        raise BulkRefused(422, "invalid_input", "the request holds no rows")
    return rows


def _position(exc: Exception) -> int:
    return getattr(exc, "pos", None) or getattr(exc, "start", 0)
