"""The benchmark's bookkeeping, without measuring anything: goals and gaps, ratios to the bare loop, the
results file, docs/performance.md's generated block, the scenario registry, and the enforcement peer."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bench import render
from bench.harness import add_ratios, document, goal, machine, not_measured, write_results
from bench.peer import Peer
from bench.scenarios import DEFAULT, Parameters, choose
from shared.webhooks import signed_headers


def rows() -> list[dict]:
    return [
        {"key": "bare", "scenario": "bare loop", "count": 1000, "throughput_per_s": 20000},
        {"key": "steady", "scenario": "steady 1,000 anomalies/s", "count": 60000, "throughput_per_s": 1000,
         "p50_ms": 40.0, "p95_ms": 90.0, "p99_ms": 130.0, "goals": [goal("p99 ≤ 100 ms", "p99_ms", "<=", 100, "ms")],
         "note": "held"},
        {"key": "steady", "scenario": "highest", "count": 1, "throughput_per_s": 8000,
         "goals": [goal("≥ 10,000/s", "throughput_per_s", ">=", 10000, "/s"),
                   goal("≥ 0.25 × bare loop", "ratio_to_bare", ">=", 0.25, "×")]},
        not_measured("bulk", "bulk registration", "not in this build", [goal("≥ 5,000 meters/s", "throughput_per_s", ">=", 5000, "/s")]),
    ]  # fmt: skip


def make_doc() -> dict:
    return document(rows(), bare_per_s=20000, command="BENCH_SECONDS=10 make bench", parameters={"seconds": 10.0, "rates": [100, 1000]},
                    machine_before=machine())  # fmt: skip


def test_each_goal_says_whether_it_is_met_and_how_far_off() -> None:
    doc = make_doc()
    steady, highest, bulk = doc["results"][1:]
    assert steady["goals"][0]["met"] is False and steady["goals"][0]["measured"] == 130.0
    assert steady["goals"][0]["gap"] == 30
    assert [g["met"] for g in highest["goals"]] == [False, True]  # 8,000/s is 0.4 of the bare loop
    assert highest["goals"][0]["gap"] == 2000
    assert highest["ratio_to_bare"] == 0.4
    assert bulk["goals"][0]["met"] is None and bulk["ratio_to_bare"] is None


def test_every_rate_is_a_fraction_of_the_bare_loop_and_none_without_it() -> None:
    measured = rows()
    add_ratios(measured, 20000)
    assert [r["ratio_to_bare"] for r in measured] == [1.0, 0.05, 0.4, None]
    add_ratios(measured, None)
    assert all(r["ratio_to_bare"] is None for r in measured)


def test_the_results_file_and_latest_hold_the_same_document(tmp_path: Path) -> None:
    doc = make_doc()
    path = write_results(doc, tmp_path)
    assert path.name.startswith("bench-") and path.suffix == ".json"
    assert json.loads(path.read_text()) == json.loads((tmp_path / "latest.json").read_text())
    saved = json.loads(path.read_text())
    assert {"measured_at", "machine", "command", "parameters", "bare_loop_per_s", "results"} <= set(saved)
    assert saved["machine"]["cpus"] and "load_average_after" in saved["machine"]


def test_the_page_shows_machine_command_table_and_what_was_not_measured() -> None:
    block = render.render(make_doc())
    assert "BENCH_SECONDS=10 make bench" in block and "CPUs" in block
    assert "| steady 1,000 anomalies/s | 60,000 | 1,000 | 40 | 90 | 130 | 0.050 | p99 ≤ 100 ms | over by 30 ms |" in block
    assert "| bulk registration |" in block and "not measured: not in this build" in block
    assert "20,000 records/s" in block and "rates=100,1000" in block


def test_a_missed_goal_says_why_once_and_a_met_one_says_nothing() -> None:
    measured = rows()
    slow = "the intake is CPU-bound"
    measured[1]["goals"] = [goal("p99 ≤ 100 ms", "p99_ms", "<=", 100, "ms", why=slow)]
    measured[2]["goals"] = [goal("≥ 10,000/s", "throughput_per_s", ">=", 10000, "/s", why=slow),
                            goal("≥ 0.25 × bare loop", "ratio_to_bare", ">=", 0.25, "×", why="never shown: met")]  # fmt: skip
    block = render.render(document(measured, bare_per_s=20000, command="make bench", parameters={}, machine_before=machine()))
    assert "Why the gaps" in block and block.count(slow) == 1
    assert "p99 ≤ 100 ms (steady 1,000 anomalies/s); ≥ 10,000/s (highest): the intake is CPU-bound" in block
    assert "never shown: met" not in block


def test_the_generated_block_is_replaced_and_the_hand_written_text_kept() -> None:
    page = render.update("", "first figures")
    assert "first figures" in page and "## What changed to get there" in page
    kept = page.replace("## What changed to get there", "## What changed to get there\n\n- the router batches: 3× faster")
    again = render.update(kept, "second figures")
    assert "second figures" in again and "first figures" not in again
    assert "- the router batches: 3× faster" in again
    assert again.index(render.BEGIN) < again.index("second figures") < again.index(render.END)


def test_bench_variables_are_read_and_bad_ones_named() -> None:
    p = Parameters.from_env({"BENCH_SECONDS": "10", "BENCH_RATES": "1000, 100", "BENCH_METERS": "2_000"})
    assert (p.seconds, p.rates, p.meters, p.fleet) == (10.0, (100, 1000), 2000, 100_000)
    for name, value in (("BENCH_SECONDS", "ten"), ("BENCH_BURST", "0"), ("BENCH_RATES", "100,fast")):
        with pytest.raises(ValueError, match=name):
            Parameters.from_env({name: value})


def test_scenarios_are_chosen_by_name_and_bulk_and_replay_are_the_real_ones() -> None:
    assert [s.name for s in choose(None)] == list(DEFAULT)
    assert [s.name for s in choose("store,steady")] == ["store", "steady"]
    with pytest.raises(ValueError, match="nope"):
        choose("steady,nope")
    assert choose("bulk")[0].run.__module__ == "bench.bulk_bench"
    assert choose("replay")[0].run.__module__ == "bench.replay_bench"


async def test_the_peer_notes_the_first_signed_block_request_of_each_meter_and_refuses_a_bad_signature() -> None:
    secret = "peer-test-secret-0123456789-0123456789"
    peer = Peer(secret)
    url = await peer.start()
    try:
        async with httpx.AsyncClient() as http:
            body = json.dumps({"request_id": "r1", "action": "block", "connection_id": "conn-1"}).encode()
            for _ in range(2):
                answer = await http.post(url, content=body, headers=signed_headers(secret.encode(), body))
                assert answer.status_code == 200 and answer.json()["request_id"] == "r1"
            forged = await http.post(url, content=body, headers=signed_headers(b"another-secret-0123456789-0123456789", body))
            assert forged.status_code == 401
        assert list(peer.arrived) == ["conn-1"]
        assert (peer.requests, peer.repeats, peer.refused) == (3, 1, 1)
        assert await peer.wait(["conn-1", "conn-2"], stall=0.05) == ["conn-2"]
    finally:
        await peer.stop()


def test_when_no_rate_held_the_sustained_rate_is_shown_below_the_lowest_tried_and_misses_its_goals() -> None:
    row = {"key": "steady", "scenario": "highest sustained anomaly rate", "count": None, "throughput_per_s": None,
           "below_per_s": 100, "goals": [goal("≥ 10,000/s", "throughput_per_s", ">=", 10000, "/s"),
                                         goal("≥ 0.25 × bare loop", "ratio_to_bare", ">=", 0.25, "×")]}  # fmt: skip
    add_ratios([row], 20000)
    assert [(g["met"], g["gap"]) for g in row["goals"]] == [(False, 9900), (False, 0.24)]
    cells = render.cells(row)  # as the table and the page show it
    assert cells[2] == "< 100" and cells[-1] == "short by more than 9,900/s; short by more than 0.24× bare"
