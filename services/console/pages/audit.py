"""The audit page: verify the tamper-evident log, keep its latest signed checkpoint, search its entries, open a dossier.

Auditors, and the utility's SOC and desk (who may read the log too), see it. Verifying recomputes the
whole log in the audit service, so it runs when asked (a button), not on every visit. The checkpoint
download is exactly what ``GET /audit/checkpoints/latest`` answers — the file ``smguard verify
--checkpoint FILE`` takes, to be kept outside the system. Entries are read one bounded page at a time
(the service's ``start``/``next``); the dates a person types are Japan time, sent to the service with
their zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api import ApiError
from services.console.i18n import JST, register
from services.console.web import Page, page_for
from shared.events import CATALOG
from shared.topics import INCIDENT_EVENTS

router = APIRouter()
AUDIT_ROLES = ("auditor", "utility_soc", "utility_desk")
Reader = Annotated[Page, Depends(page_for(*AUDIT_ROLES))]

FILTERS = ("subject", "operator_id", "type", "actor")
DATES = ("since", "until")
EVENT_TYPES = tuple(sorted(CATALOG))
MAX_FILTER = 128
"""The longest filter value the service takes (an identifier); longer input is refused here with a message."""
MAX_CHECKPOINT_BYTES = 1024 * 1024
"""A checkpoint is a few kilobytes (one head per partition); anything larger is not passed on."""
MAX_START = 1_000_000


register({
    "audit.title": ("監査ログ", "Audit log"),
    "audit.intro": ("すべてのイベントは改ざん検知可能な追記専用のログ(RFC 6962 のマークル木)に記録されています。検証、署名付きチェックポイントの保管、検索、ドシエの出力ができます。",
                    "Every event is in a tamper-evident, append-only log (a Merkle tree as in RFC 6962): verify it, keep its signed checkpoint, search it, export a dossier."),
    "audit.verify": ("ログの検証", "Verify the log"),
    "audit.verify_help": ("監査サービスが保存済みの全エントリからログを再計算し、署名済みチェックポイントと照合します(数秒かかることがあります)。",
                          "The audit service recomputes the log from every stored entry and checks it against the signed checkpoints (it may take a few seconds)."),
    "audit.verify_button": ("今すぐ検証する", "Verify now"),
    "audit.verify_ok": ("改ざんなし", "No tampering"),
    "audit.verify_ok_detail": ("{size} 件のエントリを再計算し、すべて記録どおりでした。", "{size} entries recomputed; every one is as recorded."),
    "audit.verify_bad": ("改ざんを検出しました", "Tampering detected"),
    "audit.verify_bad_entry": ("最初に一致しないエントリ: {entry}", "First entry that fails: {entry}"),
    "audit.verify_bad_checkpoint": ("署名を確認できないチェックポイントがあります", "A checkpoint's signature does not verify"),
    "audit.verify_not_run": ("まだ検証していません。「今すぐ検証する」を押してください。", "Not verified yet: press “Verify now”."),
    "audit.size": ("エントリ数", "Entries"),
    "audit.root": ("ルートハッシュ", "Root hash"),
    "audit.reason": ("理由", "Reason"),
    "audit.problems": ("問題のあるログ", "Logs with a problem"),
    "audit.checkpoints_checked": ("照合したチェックポイント", "Checkpoints checked"),
    "audit.checkpoint": ("最新の署名付きチェックポイント", "Latest signed checkpoint"),
    "audit.checkpoint_help": ("このファイルをシステムの外に保管してください。後で「smguard verify --checkpoint ファイル」で、ログがこの時点から追記されただけであることを確認できます。",
                              "Keep this file outside the system: later, “smguard verify --checkpoint FILE” checks that the log has only been appended to since."),
    "audit.checkpoint_download": ("チェックポイントをダウンロード(JSON)", "Download the checkpoint (JSON)"),
    "audit.checkpoint_unavailable": ("チェックポイントを取得できませんでした", "The checkpoint could not be read"),
    "audit.seq": ("番号", "Number"),
    "audit.signed_at": ("署名日時", "Signed at"),
    "audit.signature": ("署名(Ed25519)", "Signature (Ed25519)"),
    "audit.log_id": ("ログID", "Log id"),
    "audit.public_key": ("公開鍵", "Public key"),
    "audit.entries": ("エントリの検索", "Search entries"),
    "audit.subject": ("対象ID(インシデント・接続など)", "Subject (incident, connection, …)"),
    "audit.operator_id": ("事業者ID", "Operator id"),
    "audit.type": ("イベント種別", "Event type"),
    "audit.type_any": ("すべて", "Any"),
    "audit.actor": ("実行者", "Actor"),
    "audit.since": ("開始日時(JST)", "From (JST)"),
    "audit.until": ("終了日時(JST)", "Until (JST)"),
    "audit.search": ("検索", "Search"),
    "audit.time": ("日時(JST)", "Time (JST)"),
    "audit.entry": ("エントリ", "Entry"),
    "audit.range": ("{first}–{last} 件目", "Entries {first}–{last}"),
    "audit.no_entries": ("条件に合うエントリはありません。条件を減らすか、期間を広げてください。",
                         "No entry matches: remove a filter or widen the period."),
    "audit.bad_date": ("日時の形式が正しくありません(例: 2026-12-07 09:30): {value}", "Not a date and time (e.g. 2026-12-07 09:30): {value}"),
    "audit.bad_range": ("開始日時が終了日時より後になっています", "The start is after the end"),
    "audit.too_long": ("長すぎる入力です(最大 {max} 文字): {name}", "Too long (at most {max} characters): {name}"),
    "audit.dossier": ("インシデントのドシエを開く", "Open an incident's dossier"),
    "audit.dossier_help": ("インシデントの経緯(報告、遮断、通知と受領確認、承認、再接続)を時系列でまとめた文書です。",
                           "The incident's whole story in order: reports, blocks, notifications and acknowledgements, approvals, reconnection."),
    "audit.incident_id": ("インシデントID", "Incident id"),
    "audit.open_dossier": ("ドシエを開く", "Open the dossier"),
    "audit.dossier_link": ("ドシエ", "dossier"),
    "audit.need_incident": ("インシデントIDを入力してください", "Enter an incident id"),
    "audit.bad_incident": ("インシデントIDに使えない文字が含まれています", "The incident id contains characters an id cannot have"),
})


def _jst_input(value: str) -> datetime:
    """A date and time a person typed (``2026-12-07T09:30`` from a datetime input, or with a space; a day alone is
    its midnight), as Japan time; a time with its own zone keeps it."""
    moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def _start_of(request: Request) -> int:
    try:
        return min(MAX_START, max(0, int(request.query_params.get("start", "0"))))
    except ValueError:
        return 0


def _query(request: Request) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """What the search form asked (as typed), the service's parameters for it, and what is wrong with it."""
    asked = {name: request.query_params.get(name, "").strip() for name in (*FILTERS, *DATES)}
    params: dict[str, str] = {}
    errors: list[str] = []
    for name in FILTERS:
        if len(asked[name]) > MAX_FILTER:
            errors.append(f"too_long:{name}")
        elif asked[name]:
            params[name] = asked[name]
    moments: dict[str, datetime] = {}
    for name in DATES:
        if not asked[name]:
            continue
        try:
            moments[name] = _jst_input(asked[name])
        except ValueError:
            errors.append(f"bad_date:{asked[name]}")
            continue
        params[name] = moments[name].isoformat()
    if "since" in moments and "until" in moments and moments["since"] > moments["until"]:
        errors.append("bad_range:")
    return asked, params, errors


def _message(page: Page, error: str) -> str:
    kind, _, value = error.partition(":")
    if kind == "too_long":
        return page.t("audit.too_long", max=MAX_FILTER, name=page.t(f"audit.{value}"))
    if kind == "bad_date":
        return page.t("audit.bad_date", value=value[:60])
    return page.t("audit.bad_range")


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the table shows it; its subject links to the incident when it is one."""
    subject = entry.get("subject")
    incident = bool(subject) and str(entry.get("topic") or "").endswith(INCIDENT_EVENTS)  # topics may carry a prefix
    return {
        "entry": entry.get("entry"), "position": f"{entry.get('log')}#{entry.get('index')}", "time": entry.get("time"),
        "type": entry.get("type"), "subject": subject, "actor": entry.get("actor"), "operator_id": entry.get("operator_id"),
        "incident_href": f"/incidents/{quote(str(subject), safe='')}" if incident else None,
    }  # fmt: skip


async def _entries(page: Page, request: Request) -> dict[str, Any]:
    """One page of the entries the search asks for, with its pager; nothing is asked when the input is wrong."""
    asked, params, errors = _query(request)
    size = request.app.state.options.console_page_size
    start = _start_of(request)
    found: dict[str, Any] = {"asked": asked, "errors": [_message(page, e) for e in errors], "rows": [], "pager": None}
    if errors:
        return found
    try:
        answer = await page.api.get("audit", "/audit/entries", params={**params, "limit": size, "start": start})
    except ApiError as exc:
        if exc.status in (0, 401, 403) or exc.status >= 500:
            raise
        found["errors"] = [f"{page.t('error.' + str(exc.status) if exc.status in (400, 404, 422) else 'error.other')}: {exc.detail}"]
        return found
    rows = [_row(e) for e in answer.get("items", [])]
    kept = {k: v for k, v in asked.items() if v}
    link = lambda at: "/audit?" + urlencode({**kept, "start": at}) + "#entries"  # noqa: E731
    found["rows"] = rows
    found["pager"] = {
        "first": start + 1, "last": start + len(rows),
        "prev": link(max(0, start - size)) if start > 0 else None,
        "next": link(answer["next"]) if answer.get("next") is not None else None,
    }  # fmt: skip
    return found


async def _checkpoint(page: Page) -> tuple[dict[str, Any] | None, str | None]:
    """The latest signed checkpoint with its public key, or the service's words when it cannot be read."""
    try:
        answer = await page.api.get("audit", "/audit/checkpoints/latest")
    except ApiError as exc:
        return None, exc.detail or str(exc.status)
    return {**answer.get("checkpoint", {}), "public_key": answer.get("public_key")}, None


async def _render(page: Page, request: Request, *, verification: dict[str, Any] | None, verify_error: str | None = None,
                  status_code: int = 200) -> Response:  # fmt: skip
    checkpoint, checkpoint_error = await _checkpoint(page)
    entries = await _entries(page, request)
    return page.render(
        "audit/index.html", status_code=status_code if not entries["errors"] else 422, checkpoint=checkpoint,
        checkpoint_error=checkpoint_error, verification=verification, verify_error=verify_error, entries=entries,
        event_types=EVENT_TYPES, incident_id=request.query_params.get("incident_id", ""),
        dossier_error=request.query_params.get("dossier_error") if request.query_params.get("dossier_error") in DOSSIER_ERRORS else None,
    )  # fmt: skip


@router.get("/audit", include_in_schema=False)
async def audit_home(request: Request, page: Reader) -> Response:
    """The audit page: the latest checkpoint, the verify button, the entry search, the dossier input."""
    return await _render(page, request, verification=None)


@router.get("/audit/verify", include_in_schema=False)
async def audit_verify(request: Request, page: Reader) -> Response:
    """The audit page with the log verified now (``GET /audit/verify`` on the audit service)."""
    try:
        report = await page.api.get("audit", "/audit/verify")
    except ApiError as exc:
        if exc.status == 0 or exc.status >= 500 or exc.status in (401, 403):
            raise
        return await _render(page, request, verification=None, verify_error=exc.detail, status_code=exc.status)
    problems = report.get("problems") or []
    checkpoint_problems = report.get("checkpoint_problems") or []
    verification = {
        "ok": bool(report.get("ok")), "size": report.get("size"), "root": report.get("root"),
        "first_bad": report.get("first_bad"), "problems": problems[:20], "more_problems": max(0, len(problems) - 20),
        "checkpoint_problems": checkpoint_problems[:20], "checkpoints_checked": report.get("checkpoints_checked"),
    }  # fmt: skip
    return await _render(page, request, verification=verification)


@router.get("/audit/checkpoint.json", include_in_schema=False)
async def checkpoint_file(page: Reader) -> Response:
    """The latest signed checkpoint and its public key as a file, exactly as the audit service signed and
    answered it (what ``smguard verify --checkpoint FILE`` reads)."""
    answer = await page.api.call("GET", "audit", "/audit/checkpoints/latest", raw=True)
    body = answer.content
    if len(body) > MAX_CHECKPOINT_BYTES:
        raise ApiError("audit", 502, "the checkpoint is larger than the console passes on")
    try:
        seq = answer.json()["checkpoint"]["seq"]
    except (ValueError, KeyError, TypeError):
        raise ApiError("audit", 502, "the audit service's answer is not a checkpoint") from None
    name = f"smguard-checkpoint-{seq if isinstance(seq, int) else 'latest'}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


DOSSIER_ERRORS = ("audit.need_incident", "audit.bad_incident")
_IDENT = re.compile(r"^[^\s/\\?#%]{1,128}$")


@router.get("/audit/dossier", include_in_schema=False)
async def open_dossier(page: Reader, incident_id: str = "") -> Response:
    """The dossier input (a GET form, so it works without JavaScript): on to the incident's dossier page."""
    wanted = incident_id.strip()
    if not wanted or not _IDENT.match(wanted):
        problem = "audit.need_incident" if not wanted else "audit.bad_incident"
        back = "/audit?" + urlencode({"incident_id": wanted[:200], "dossier_error": problem}) + "#dossier"
        return RedirectResponse(back, status_code=303)
    return RedirectResponse(f"/incidents/{quote(wanted, safe='')}/dossier", status_code=303)
