"""Bounded input without I/O: the body cap of the HTTP edge, free-form JSON, times a caller supplies, text in characters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.config import Settings
from shared.http import install
from shared.schemas import BoundedJson, PastTime
from services.incident.entrypoints.schemas import AnomalyCreate, IncidentCreate
from tests.factories import DETECTED


class Note(BaseModel):
    text: str


def app_capped_at(max_bytes: int, bodies: dict[str, int] | None = None) -> FastAPI:
    """An app with the shared edge and two routes that read a body (``bodies``: routes with a cap of their own)."""
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=max_bytes)
    install(app, service="test", bodies=bodies)

    @app.post("/notes")
    async def note(body: Note) -> dict:
        return {"length": len(body.text)}

    @app.post("/notes/bulk")
    async def notes(body: list[Note]) -> dict:
        return {"length": sum(len(n.text) for n in body)}

    return app


async def post(app: FastAPI, path: str = "/notes", **request) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post(path, headers={"content-type": "application/json"}, **request)


async def chunks(total: int):
    yield b'{"text": "'
    for _ in range(total // 1024):
        yield b"x" * 1024
    yield b'"}'


class TestBodyCap:
    async def test_a_body_declared_over_the_cap_is_a_413_in_the_projects_shape(self) -> None:
        answer = await post(app_capped_at(4096), json={"text": "x" * 5000})
        assert answer.status_code == 413
        assert answer.json() == {"detail": "the request body is larger than 4096 bytes", "code": "payload_too_large"}
        assert answer.headers["x-correlation-id"]

    async def test_a_chunked_body_is_refused_once_it_passes_the_cap(self) -> None:
        answer = await post(app_capped_at(4096), content=chunks(8192))
        assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"

    async def test_a_body_within_the_cap_is_read_whether_declared_or_chunked(self) -> None:
        assert (await post(app_capped_at(4096), json={"text": "x" * 3000})).json() == {"length": 3000}
        assert (await post(app_capped_at(4096), content=chunks(3072))).json() == {"length": 3072}

    async def test_japanese_text_counts_its_bytes_against_the_cap(self) -> None:
        assert (await post(app_capped_at(4096), json={"text": "報" * 1000})).status_code == 200
        assert (await post(app_capped_at(4096), content='{"text": "' + "報" * 1400 + '"}')).status_code == 413


    async def test_a_route_with_a_cap_of_its_own_reads_more_and_the_others_keep_theirs(self) -> None:
        app = app_capped_at(4096, bodies={"/notes/bulk": 16384})
        many = [{"text": "x" * 1000} for _ in range(8)]
        assert (await post(app, "/notes/bulk", json=many)).json() == {"length": 8000}
        assert (await post(app, "/notes", json={"text": "x" * 8000})).status_code == 413
        refused = await post(app, "/notes/bulk", json=many * 3)
        assert refused.status_code == 413 and refused.json()["detail"] == "the request body is larger than 16384 bytes"
        assert (await post(app, "/notes/bulk", content=chunks(20000))).status_code == 413


class TestFreeFormJson:
    adapter = TypeAdapter(BoundedJson)

    def test_ordinary_evidence_passes_unchanged(self) -> None:
        evidence = {"ルール": "HES-17", "count": 3, "packets": [{"src": "10.0.0.1", "bytes": 512}]}
        assert self.adapter.validate_python(evidence) == evidence

    @pytest.mark.parametrize(
        "value, reason",
        [
            ([[[[[[[[[["deep"]]]]]]]]]], "nested deeper than 8"),
            ({f"k{i}": i for i in range(101)}, "more than 100 keys"),
            (list(range(1001)), "more than 1000 items"),
            ({"k" * 201: 1}, "longer than 200"),
            ({"blob": "証" * 30_000}, "larger than 65536 bytes"),
            ({"x": float("nan")}, "finite"),
        ],
    )
    def test_evidence_past_a_bound_is_refused_naming_it(self, value: object, reason: str) -> None:
        with pytest.raises(ValidationError, match=reason):
            self.adapter.validate_python(value)


class TestCallerTimes:
    def test_a_time_within_the_skew_is_accepted_and_one_beyond_it_refused(self) -> None:
        adapter, now = TypeAdapter(PastTime), datetime.now(timezone.utc)
        assert adapter.validate_python(now + timedelta(minutes=4))
        with pytest.raises(ValidationError, match="future"):
            adapter.validate_python(now + timedelta(minutes=10))

    def test_an_incident_dated_in_2099_is_refused(self) -> None:
        body = {"category": "other", "severity": "low", "title": "t", "detected_at": "2099-01-01T00:00:00+09:00"}
        with pytest.raises(ValidationError, match="future"):
            IncidentCreate.model_validate(body)

    def test_a_time_without_a_zone_or_before_2000_is_refused(self) -> None:
        for moment in ["2026-04-01T09:00:00", "1999-12-31T23:59:59+00:00"]:
            with pytest.raises(ValidationError):
                TypeAdapter(PastTime).validate_python(moment)


class TestTextInCharacters:
    def test_a_japanese_title_of_500_characters_is_accepted_and_501_refused(self) -> None:
        body = {"category": "other", "severity": "low", "detected_at": DETECTED.isoformat()}
        assert IncidentCreate.model_validate(body | {"title": "件" * 500}).title == "件" * 500
        with pytest.raises(ValidationError, match="500 characters"):
            IncidentCreate.model_validate(body | {"title": "件" * 501})

    def test_a_sensor_record_with_deep_evidence_is_refused(self) -> None:
        record = {"signal_id": "s", "connection_id": "c", "type": "unauthorized_access", "severity": "high",
                  "observed_at": DETECTED.isoformat(), "evidence": {"a": [[[[[[[[["x"]]]]]]]]]}}  # fmt: skip
        with pytest.raises(ValidationError, match="nested deeper"):
            AnomalyCreate.model_validate(record)
