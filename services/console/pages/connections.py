"""The connections pages: the list, registering one, and one connection (block, approve reconnection, rotate secrets).

Everything is read and written through the connection service with the user's token, so an operator sees and
touches its own connections only (another's URL is the service's 404). Secrets are write-only: the forms take
them as password inputs and no page ever puts a value back, not even after an error; only the masked hints
the service gives are shown.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.console.api import ApiError
from services.console.i18n import MESSAGES, register
from services.console.web import FormPage, Page, form_for, page_for, paginate, sort_rows

router = APIRouter()
READERS = ("utility_soc", "utility_desk", "operator", "auditor")
REGISTRARS = ("operator", "utility_soc")
STATUSES = ("active", "blocked", "awaiting_approval")
KINDS = ("special_meter", "wireless_terminal", "iot_route", "external_server")
REASONS = ("serious_vulnerability", "unauthorized_access", "abnormal_communication")
SECRETS = ("auth_id", "password", "pairing_id")
READ_AT_MOST = 500
"""The most connections one list page reads from the service (its own page bound); narrower filters show the rest."""
SORTS = ("registered_at", "status", "operator_id", "kind", "maker", "model", "firmware", "meters")

register({
    "connections.title": ("接続一覧", "Connections"),
    "connections.new": ("接続を登録", "Register a connection"),
    "connections.new_help": ("認証ID・認証パスワード・Pairing IDは書き込み専用です。登録後は伏せ字のヒントしか表示されません。",
                             "The authentication ID, password and Pairing ID are write-only: after registering, only masked hints are shown."),
    "connections.registered": ("接続を登録しました", "The connection was registered"),
    "connections.id": ("接続ID", "Connection id"),
    "connections.status": ("状態", "Status"),
    "connections.operator": ("事業者", "Operator"),
    "connections.kind": ("種別", "Kind"),
    "connections.maker": ("メーカー", "Maker"),
    "connections.model": ("型式", "Model"),
    "connections.firmware": ("ファームウェア", "Firmware"),
    "connections.meters": ("スマートメーター数", "Meters"),
    "connections.meter_ids": ("接続先スマートメーターID(改行・カンマ・セミコロン区切り)", "Smart meter ids (one per line, or separated by commas or semicolons)"),
    "connections.registered_at": ("登録日時", "Registered"),
    "connections.blocks": ("遮断中のインシデント", "Blocking incidents"),
    "connections.any": ("すべて", "Any"),
    "connections.truncated": ("該当する{total}件のうち先頭{shown}件を表示しています。状態や事業者で絞り込んでください。",
                              "Showing the first {shown} of {total} matching connections; narrow the list by status or operator."),
    "connections.empty": ("該当する接続はありません。絞り込みを解除するか、接続を登録してください。",
                          "No connection matches. Clear the filter, or register a connection."),
    "connections.empty_reader": ("該当する接続はありません。絞り込みを解除してください。", "No connection matches; clear the filter."),
    "connections.secrets": ("認証情報(書き込み専用)", "Secrets (write-only)"),
    "connections.auth_id": ("認証ID", "Authentication ID"),
    "connections.password": ("認証パスワード", "Authentication password"),
    "connections.pairing_id": ("Pairing ID", "Pairing ID"),
    "connections.operator_id_soc": ("事業者ID(SOCが代理登録するとき)", "Operator id (when the SOC registers for an operator)"),
    "connections.submit": ("登録する", "Register"),
    "connections.st.active": ("接続中", "active"),
    "connections.st.blocked": ("遮断中", "blocked"),
    "connections.st.awaiting_approval": ("再接続承認待ち", "awaiting approval"),
    "connections.kind_special_meter": ("特例計量器", "special meter"),
    "connections.kind_wireless_terminal": ("無線端末", "wireless terminal"),
    "connections.kind_iot_route": ("IoTルート", "IoT route"),
    "connections.kind_external_server": ("外部サーバ", "external server"),
    "connections.reason_serious_vulnerability": ("重大な脆弱性", "serious vulnerability"),
    "connections.reason_unauthorized_access": ("不正アクセス", "unauthorized access"),
    "connections.reason_abnormal_communication": ("異常通信", "abnormal communication"),
    "connection.title": ("接続 {id}", "Connection {id}"),
    "connection.facts": ("概要", "Facts"),
    "connection.enforcement": ("遮断・再接続の実施状況", "Enforcement"),
    "connection.enf_none": ("なし", "none"),
    "connection.enf_pending": ("実施待ち", "pending"),
    "connection.enf_enforced": ("実施済み", "enforced"),
    "connection.enf_escalated": ("エスカレーション済み(未実施)", "escalated (not enforced)"),
    "connection.no_blocks": ("この接続を遮断しているインシデントはありません。", "No incident blocks this connection."),
    "connection.blocked_at": ("遮断日時", "Blocked at"),
    "connection.reason": ("理由", "Reason"),
    "connection.decided_by": ("判断者", "Decided by"),
    "connection.incident": ("インシデント", "Incident"),
    "connection.approvals": ("再接続の承認", "Reconnection approvals"),
    "connection.party.utility": ("電力会社側", "Utility side"),
    "connection.party.operator": ("事業者側", "Operator side"),
    "connection.approved_by": ("承認済み({who})", "Approved ({who})"),
    "connection.approval_missing": ("未承認", "Not yet approved"),
    "connection.missing": ("再接続にまだ必要な承認:", "Still to approve reconnection:"),
    "connection.all_approved": ("両者の承認がそろいました。", "Both sides have approved."),
    "connection.wait_clearing": ("遮断の原因となったインシデントがすべて解消されるまで、どちらの側も承認できません。",
                                 "Neither side can approve until every blocking incident is cleared."),
    "connection.active": ("この接続は接続中です。承認は不要です。", "This connection is active: no approval is needed."),
    "connection.approve": ("再接続を承認({party})", "Approve reconnection ({party})"),
    "connection.approve_note": ("承認メモ(任意)", "Note (optional)"),
    "connection.approved": ("再接続を承認しました", "Reconnection approved"),
    "connection.approve_409": ("まだ承認できません。遮断の原因となったインシデントが解消されていないか、この側はすでに承認済みです。",
                               "Not possible yet: a blocking incident is not cleared, or this side has already approved."),
    "connection.block": ("接続を遮断", "Block the connection"),
    "connection.block_help": ("遮断は電力会社SOCだけが判断できます。原因のインシデントIDを指定してください。",
                              "Only the utility SOC decides a block; name the incident it is for."),
    "connection.incident_id": ("インシデントID", "Incident id"),
    "connection.note": ("メモ", "Note"),
    "connection.block_next": ("確認へ進む", "Continue to confirm"),
    "connection.confirm_title": ("遮断の確認", "Confirm the block"),
    "connection.confirm_text": ("接続 {id}(事業者 {operator})を、インシデント {incident} を理由({reason})に遮断します。ネットワーク上で実施され、再接続には両者の承認が必要になります。",
                                "Connection {id} (operator {operator}) will be blocked for incident {incident} ({reason}). It is enforced on the network, and reconnecting needs both sides' approval."),
    "connection.confirm_block": ("遮断する", "Block it"),
    "connection.cancel": ("取り消す", "Cancel"),
    "connection.blocked": ("接続を遮断しました", "The connection was blocked"),
    "connection.rotate": ("認証情報を更新", "Rotate the secrets"),
    "connection.rotate_help": ("新しい値を入力してください。現在の値は表示されません(伏せ字のヒントのみ)。",
                               "Enter the new values; the current ones are never shown (only masked hints)."),
    "connection.rotated": ("認証情報を更新しました", "The secrets were rotated"),
    "connection.hints": ("現在の認証情報(ヒント)", "Current secrets (hints)"),
    "connection.no_hints": ("ヒントはありません", "No hints"),
    "connection.compromised": ("認証情報の漏洩が報告されています(インシデント: {ids})。認証情報を更新してください。",
                               "The secrets are reported compromised (incidents: {ids}); rotate them."),
})


def problem(page: Page, exc: ApiError) -> dict[str, str]:
    """A service's refusal for a form: a title in the user's language and the service's own words under it."""
    key = f"error.{exc.status}"
    if exc.status == 0:
        title = page.t("error.unreachable", service=exc.service)
    else:
        title = page.t(key) if key in MESSAGES else page.t("error.other")
    return {"title": title, "detail": exc.detail}


def status_of(exc: ApiError) -> int:
    """The status a re-rendered form answers with: the service's, or 502 when it could not answer."""
    return exc.status if exc.status >= 400 else 502


def new_key() -> str:
    """An idempotency key a form carries, so that submitting it twice does the thing once."""
    return uuid.uuid4().hex


def key_of(form: FormPage) -> str:
    """The form's idempotency key (a fresh one when it carries none that looks right)."""
    given = form.field("key")
    return given if re.fullmatch(r"[0-9a-f]{32}", given) else new_key()


def path_of(connection_id: str) -> str:
    """The service's path of a connection (the id quoted: it came from a URL)."""
    return f"/connections/{quote(connection_id, safe='')}"


def sort_links(page: Page, fields: tuple[str, ...], current: str) -> dict[str, dict[str, str | None]]:
    """For each sortable column: the link that sorts by it (again: the other way) and how it is sorted now."""
    query = {k: v for k, v in page.request.query_params.items() if k not in ("page", "sort", "notice")}
    links = {}
    for field in fields:
        now = "ascending" if current == field else "descending" if current == f"-{field}" else None
        wanted = f"-{field}" if now == "ascending" else field
        links[field] = {"href": f"{page.request.url.path}?{urlencode({**query, 'sort': wanted})}", "dir": now}
    return links


def _row(c: dict[str, Any]) -> dict[str, Any]:
    meters = len(c.get("smart_meter_ids") or [])
    return {**c, "meter_count": meters, "meters": f"{meters:07d}", "block_count": len(c.get("blocking_incidents") or [])}


def _matches(c: dict[str, Any], field: str, wanted: str) -> bool:
    return not wanted or wanted.casefold() in str(c.get(field, "")).casefold()


@router.get("/connections", include_in_schema=False)
async def connection_list(page: Annotated[Page, Depends(page_for(*READERS))]) -> Response:
    """Connections the user may see: filtered by status, operator, maker and model; sorted; one page at a time."""
    query = page.request.query_params
    status = query.get("status") if query.get("status") in STATUSES else ""
    operator = query.get("operator_id", "").strip()[:128] if page.principal.role != "operator" else ""
    maker, model = query.get("maker", "").strip()[:200], query.get("model", "").strip()[:200]
    found = await page.api.get("connection", "/connections",
                               params={"status": status, "operator_id": operator, "limit": READ_AT_MOST})  # fmt: skip
    rows = [_row(c) for c in found["items"] if _matches(c, "maker", maker) and _matches(c, "model", model)]
    rows, sort = sort_rows(rows, page.request, SORTS, "-registered_at")
    shown, pager = paginate(rows, page.request, size=page.request.app.state.options.console_page_size)
    return page.render(
        "connections/list.html", rows=shown, pager=pager, sorts=sort_links(page, SORTS, sort), statuses=STATUSES,
        filters={"status": status, "operator_id": operator, "maker": maker, "model": model},
        truncated=found["total"] > len(found["items"]), total=found["total"], read=len(found["items"]),
        may_register=page.principal.role in REGISTRARS,
    )  # fmt: skip


def _new_form(page: Page, *, values: dict[str, str] | None = None, error: dict[str, str] | None = None,
              status_code: int = 200) -> Response:  # fmt: skip
    return page.render("connections/new.html", values=values or {}, error=error, kinds=KINDS, key=new_key(),
                       status_code=status_code)  # fmt: skip


@router.get("/connections/new", include_in_schema=False)
async def connection_new(page: Annotated[Page, Depends(page_for(*REGISTRARS))]) -> Response:
    """The form to register a connection (operators for themselves, the SOC for an operator)."""
    return _new_form(page)


def meter_ids(text: str) -> list[str]:
    """Smart meter ids from a text field: one per line, or separated by commas, semicolons or spaces."""
    return [m for m in re.split(r"[\s,;、]+", text) if m]


@router.post("/connections/new", include_in_schema=False)
async def connection_register(form: Annotated[FormPage, Depends(form_for(*REGISTRARS))]) -> Response:
    """Register through ``POST /connections``; on a refusal the form again, its secrets left empty."""
    values = {name: form.field(name) for name in ("kind", "maker", "model", "firmware", "smart_meter_ids", "operator_id")}
    body: dict[str, Any] = {
        "kind": values["kind"], "maker": values["maker"], "model": values["model"], "firmware": values["firmware"],
        "smart_meter_ids": meter_ids(values["smart_meter_ids"]),
        "secrets": {name: form.field(name) for name in SECRETS},
    }  # fmt: skip
    if form.principal.role != "operator" and values["operator_id"]:
        body["operator_id"] = values["operator_id"]
    try:
        created = await form.api.post("connection", "/connections", json=body, headers={"Idempotency-Key": key_of(form)})
    except ApiError as exc:
        return _new_form(form, values=values, error=problem(form, exc), status_code=status_of(exc))
    return form.redirect(path_of(created["id"]), notice="connections.registered")


def missing_parties(connection: dict[str, Any]) -> list[str]:
    """The sides whose approval reconnection still needs (none while active)."""
    if connection["status"] == "active":
        return []
    return [party for party in ("utility", "operator") if not (connection.get("approvals") or {}).get(party)]


def my_party(page: Page) -> str | None:
    """The side the user approves for: the SOC for the utility, an operator for itself; others approve nothing."""
    return {"utility_soc": "utility", "operator": "operator"}.get(page.principal.role)


async def _detail(page: Page, connection_id: str, *, status_code: int = 200, **context: Any) -> Response:
    connection = await page.api.get("connection", path_of(connection_id))
    return page.render(
        "connections/detail.html", c=connection, missing=missing_parties(connection), party=my_party(page),
        reasons=REASONS, key=new_key(), status_code=status_code, **context,
    )  # fmt: skip


@router.get("/connections/{connection_id}", include_in_schema=False)
async def connection_page(connection_id: str, page: Annotated[Page, Depends(page_for(*READERS))]) -> Response:
    """One connection: status, blocking incidents, enforcement, approvals, hints; the user's actions on it."""
    return await _detail(page, connection_id)


@router.post("/connections/{connection_id}/block", include_in_schema=False)
async def connection_block(connection_id: str, form: Annotated[FormPage, Depends(form_for("utility_soc"))]) -> Response:
    """Block: the first post shows the confirmation (nothing sent yet); the confirmed post asks the service."""
    block = {"reason": form.field("reason"), "incident_id": form.field("incident_id"), "note": form.field("note")}
    if form.field("confirm") != "yes":
        connection = await form.api.get("connection", path_of(connection_id))
        return form.render("connections/confirm_block.html", c=connection, block=block, key=key_of(form))
    try:
        await form.api.post("connection", path_of(connection_id) + "/block", json=block,
                            headers={"Idempotency-Key": key_of(form)})  # fmt: skip
    except ApiError as exc:
        return await _detail(form, connection_id, block_error=problem(form, exc), block=block, status_code=status_of(exc))
    return form.redirect(path_of(connection_id), notice="connection.blocked")


@router.post("/connections/{connection_id}/approve", include_in_schema=False)
async def connection_approve(connection_id: str, form: Annotated[FormPage, Depends(form_for(*REGISTRARS))]) -> Response:
    """Approve reconnection for the user's side; a 409 (a blocking incident not cleared) is said plainly."""
    try:
        await form.api.post("connection", path_of(connection_id) + "/approvals", json={"note": form.field("note")},
                            headers={"Idempotency-Key": key_of(form)})  # fmt: skip
    except ApiError as exc:
        error = problem(form, exc)
        if exc.status == 409:
            error["title"] = form.t("connection.approve_409")
        return await _detail(form, connection_id, approve_error=error, status_code=status_of(exc))
    return form.redirect(path_of(connection_id), notice="connection.approved")


@router.post("/connections/{connection_id}/secrets", include_in_schema=False)
async def connection_rotate(connection_id: str, form: Annotated[FormPage, Depends(form_for("operator"))]) -> Response:
    """Rotate the secrets (the connection's operator); the new values go to the service and nowhere else."""
    try:
        await form.api.post("connection", path_of(connection_id) + "/secrets", json={name: form.field(name) for name in SECRETS})
    except ApiError as exc:
        return await _detail(form, connection_id, rotate_error=problem(form, exc), status_code=status_of(exc))
    return form.redirect(path_of(connection_id), notice="connection.rotated")
