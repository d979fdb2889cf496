"""Rules every service shares, written once: tenancy, firmware criteria, back-off, signed webhooks, time, dev secrets."""

from __future__ import annotations

import json
import stat
from datetime import date, datetime, timezone

import pytest

from shared import devsecrets
from shared.backoff import Backoff
from shared.clock import japan_date, jst
from shared.domain import Forbidden, Invalid, NotFound
from shared.firmware import Firmware
from shared.periodic import Periodic
from shared.principal import Principal
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verify
from tests.factories import eventually

OPERATOR = Principal(sub="staff-1", role="operator", operator_id="op-1")
SOC = Principal(sub="soc-1", role="utility_soc")


class TestTenancy:
    def test_an_operator_acts_for_itself_when_it_names_no_one_or_itself(self) -> None:
        assert OPERATOR.acts_for(None) == "op-1" and OPERATOR.acts_for("op-1") == "op-1"

    def test_an_operator_naming_another_operator_is_forbidden(self) -> None:
        with pytest.raises(Forbidden, match="acts for itself"):
            OPERATOR.acts_for("op-2")

    def test_the_utility_acts_for_the_operator_it_names(self) -> None:
        assert SOC.acts_for("op-2") == "op-2" and SOC.acts_for(None) is None

    def test_another_tenants_path_looks_like_one_that_does_not_exist(self) -> None:
        with pytest.raises(NotFound, match="operator op-2 not found"):
            OPERATOR.require_operator("op-2")
        SOC.require_operator("op-2")

    def test_the_party_follows_from_the_role(self) -> None:
        assert OPERATOR.party == "operator" and SOC.party == "utility"


class TestFirmware:
    def test_an_exact_version_matches_the_same_version_however_written(self) -> None:
        assert Firmware("2.1.0").matches("2.1") and not Firmware("2.1.0").matches("2.1.1")

    def test_a_range_matches_what_falls_inside_it(self) -> None:
        criterion = Firmware(">=2.0,<2.3")
        assert criterion.is_range and criterion.matches("2.2.9") and not criterion.matches("2.3.0")

    def test_a_list_of_versions_is_not_a_range_anyone_can_match_so_it_is_refused(self) -> None:
        with pytest.raises(Invalid, match="not a valid range"):
            Firmware("1.0,2.0")

    def test_no_criterion_matches_every_version(self) -> None:
        assert Firmware(None).matches("0.0.1") and Firmware("").matches("9")


class TestBackoff:
    def test_the_wait_doubles_after_each_failure_up_to_the_cap(self) -> None:
        backoff = Backoff(base=1.0, cap=5.0)
        assert [backoff.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


class TestSignedWebhooks:
    body = json.dumps({"request_id": "r-1"}).encode()

    def test_a_signed_request_verifies_with_the_same_key(self) -> None:
        headers = signed_headers(b"key", self.body, now=1_000_000)
        assert verify(b"key", self.body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER], now=1_000_010)

    def test_another_key_or_a_changed_body_does_not_verify(self) -> None:
        headers = signed_headers(b"key", self.body, now=1_000_000)
        stamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
        assert not verify(b"other", self.body, timestamp=stamp, signature=signature, now=1_000_000)
        assert not verify(b"key", self.body + b" ", timestamp=stamp, signature=signature, now=1_000_000)

    def test_a_request_replayed_later_is_refused(self) -> None:
        headers = signed_headers(b"key", self.body, now=1_000_000)
        stamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
        assert not verify(b"key", self.body, timestamp=stamp, signature=signature, now=1_000_000 + 3600)

    def test_the_timestamp_is_signed_with_the_body(self) -> None:
        headers = signed_headers(b"key", self.body, now=1_000_000)
        assert not verify(b"key", self.body, timestamp="1000001", signature=headers[SIGNATURE_HEADER], now=1_000_000)


class TestTime:
    def test_the_day_in_japan_turns_at_midnight_jst(self) -> None:
        assert japan_date(datetime(2026, 3, 31, 15, 0, tzinfo=timezone.utc)) == date(2026, 4, 1)
        assert jst(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)) == "2026-11-26 18:00 JST"


class TestDevSecrets:
    def test_a_dev_secret_is_made_once_readable_by_its_owner_only_and_then_kept(self, tmp_path) -> None:
        first = devsecrets.configured_or_dev(None, tmp_path, devsecrets.ENFORCEMENT_SECRET)
        again = devsecrets.configured_or_dev(None, tmp_path, devsecrets.ENFORCEMENT_SECRET)
        mode = (tmp_path / devsecrets.ENFORCEMENT_SECRET).stat().st_mode
        assert first == again and len(first) >= 32 and stat.S_IMODE(mode) == 0o600

    def test_a_configured_secret_wins_and_writes_nothing(self, tmp_path) -> None:
        assert devsecrets.configured_or_dev("from-settings", tmp_path, devsecrets.JWT_SIGNING_KEY) == b"from-settings"
        assert not (tmp_path / devsecrets.JWT_SIGNING_KEY).exists()


class TestPeriodic:
    async def test_a_failing_tick_does_not_stop_the_next_ones(self) -> None:
        calls: list[int] = []

        def tick() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("broker hiccup")

        timer = Periodic("test", tick, interval=0.01, first_after=0)
        await timer.start()
        try:
            await eventually(lambda: len(calls) >= 3, timeout=5)
        finally:
            await timer.stop()
        assert timer.ticks >= 3
