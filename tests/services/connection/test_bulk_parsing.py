"""Reading a bulk registration without I/O: JSON arrays and CSV, one row each, per-row errors, the bounds."""

from __future__ import annotations

import json

import pytest

from services.connection.entrypoints.bulk import BulkRefused, rows_of, rows_of_csv, rows_of_json

HEADER = "kind,maker,model,firmware,smart_meter_ids,auth_id,password,pairing_id"
PASSWORD = "秘密-pw-0xC0FFEE"


def item(**overrides: object) -> dict:
    body = {
        "kind": "special_meter", "maker": "東海計器", "model": "TK-100", "firmware": "2.1.0", "smart_meter_ids": ["SM-1"],
        "secrets": {"auth_id": "AUTH-0001", "password": PASSWORD, "pairing_id": "PAIR-0001"},
    }  # fmt: skip
    body.update(overrides)
    return body


def csv_of(*lines: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode()


def refused(call) -> BulkRefused:
    with pytest.raises(BulkRefused) as caught:
        call()
    return caught.value


class TestJson:
    def test_each_object_is_a_row_counted_from_one_valid_or_with_its_errors(self):
        rows = rows_of_json(json.dumps([item(), item(maker=""), "not an object", item(kind="toaster")]).encode(), max_rows=10)
        assert [r.row for r in rows] == [1, 2, 3, 4]
        assert rows[0].body is not None and rows[0].body.smart_meter_ids == ["SM-1"] and not rows[0].errors
        assert rows[1].body is None and [e["loc"] for e in rows[1].errors] == [["maker"]]
        assert rows[2].errors[0]["type"] == "model_type"
        assert [e["loc"] for e in rows[3].errors] == [["kind"]]

    def test_an_error_says_where_and_why_but_never_the_value(self):
        secret = "x" * 300  # over the 256 characters a secret may have
        rows = rows_of_json(json.dumps([item(secrets={"auth_id": secret, "password": PASSWORD})]).encode(), max_rows=10)
        errors = rows[0].errors
        assert {tuple(e["loc"]) for e in errors} == {("secrets", "auth_id"), ("secrets", "pairing_id")}
        assert secret not in json.dumps(errors) and PASSWORD not in json.dumps(errors)

    def test_the_tenant_a_row_names_is_kept_even_when_the_row_is_invalid(self):
        rows = rows_of_json(json.dumps([item(operator_id="op-b", maker="")]).encode(), max_rows=10)
        assert rows[0].body is None and rows[0].operator_id == "op-b"

    @pytest.mark.parametrize(
        "body, status",
        [(b"{not json", 400), (b"\xff\xfe", 400), (b'{"kind": "special_meter"}', 422), (b"[]", 422)],
    )
    def test_a_body_that_is_not_an_array_of_rows_is_refused_as_a_whole(self, body: bytes, status: int):
        assert refused(lambda: rows_of_json(body, max_rows=10)).status == status


class TestCsv:
    def test_a_header_row_then_one_row_per_record_meters_split_on_semicolons(self):
        rows = rows_of_csv(csv_of("special_meter,M,X,1.0,SM-1; SM-2;,a-1,p-1,q-1", "wireless_terminal,M,W,2.0,,a-2,p-2,q-2"),
                           max_rows=10)  # fmt: skip
        assert [r.row for r in rows] == [1, 2] and all(not r.errors for r in rows)
        first, second = (r.body for r in rows)
        assert first.smart_meter_ids == ["SM-1", "SM-2"] and first.secrets.password.get_secret_value() == "p-1"
        assert second.kind == "wireless_terminal" and second.smart_meter_ids == [] and second.operator_id is None

    def test_columns_in_any_order_with_a_byte_order_mark_quoted_fields_and_blank_lines(self):
        header = "operator_id,pairing_id,password,auth_id,firmware,model,maker,kind"
        body = "\ufeff".encode() + csv_of('op-1,q,"p,with ""quotes""",a,1.0,X,"東海 計器",special_meter', "", header=header)
        [row] = rows_of_csv(body, max_rows=10)
        assert row.body is not None and row.body.operator_id == "op-1" and row.body.maker == "東海 計器"
        assert row.body.secrets.password.get_secret_value() == 'p,with "quotes"'

    def test_errors_name_the_column_and_never_the_value(self):
        rows = rows_of_csv(csv_of(f"special_meter,,X,1.0,SM-1,a,{PASSWORD},", "special_meter,M,X"), max_rows=10)
        assert {tuple(e["loc"]) for e in rows[0].errors} == {("maker",), ("pairing_id",)}
        assert rows[1].errors[0]["type"] == "csv_fields"
        assert PASSWORD not in json.dumps([r.errors for r in rows])

    def test_an_empty_operator_id_is_none_and_a_given_one_is_kept(self):
        rows = rows_of_csv(csv_of("special_meter,M,X,1.0,,a,p,q,", "special_meter,M,X,1.0,,a,p,q,op-b", header=HEADER + ",operator_id"),
                           max_rows=10)  # fmt: skip
        assert rows[0].operator_id is None and rows[0].body.operator_id is None
        assert rows[1].operator_id == "op-b"

    @pytest.mark.parametrize(
        "body, says",
        [
            (b"", "no header"),
            (csv_of("special_meter,M,X,1.0,,a,p,q", header=HEADER + ",colour"), "unknown CSV column"),
            (csv_of("special_meter,M,X,1.0,a,p,q", header="kind,maker,model,firmware,auth_id,password,pairing_id,kind"), "named twice"),
            (csv_of("special_meter,M,X,a,p,q", header="kind,maker,model,auth_id,password,pairing_id"), "lacks the column(s) firmware"),
            (HEADER.encode() + b"\r\n", "no rows"),
            ("kind\r\nspecial_meter\r\n".encode("utf-16"), "not UTF-8"),
            (csv_of('special_meter,M,X,1.0,,a,"p,q'), "cannot be read"),
        ],
    )
    def test_a_csv_that_cannot_be_read_as_a_whole_is_a_422_naming_why(self, body: bytes, says: str):
        answer = refused(lambda: rows_of_csv(body, max_rows=10))
        assert answer.status == 422 and says in answer.detail


class TestBounds:
    def test_more_rows_than_the_bound_is_a_413_whatever_the_format(self):
        assert refused(lambda: rows_of_json(json.dumps([item()] * 4).encode(), max_rows=3)).status == 413
        body = csv_of(*["special_meter,M,X,1.0,,a,p,q"] * 4)
        assert refused(lambda: rows_of_csv(body, max_rows=3)).code == "too_many_rows"
        assert len(rows_of_csv(body, max_rows=4)) == 4

    def test_the_content_type_picks_the_format_and_anything_else_is_a_415(self):
        assert len(rows_of("application/json; charset=utf-8", json.dumps([item()]).encode(), max_rows=10)) == 1
        assert len(rows_of("text/csv; charset=utf-8", csv_of("special_meter,M,X,1.0,,a,p,q"), max_rows=10)) == 1
        for media in (None, "text/plain", "multipart/form-data; boundary=x"):
            assert refused(lambda: rows_of(media, b"[]", max_rows=10)).status == 415
