"""The incidents pages: the list, reporting an incident, the incident page and its actions, and the dossier.

Every read and write goes through the services' APIs with the user's token, so what a page shows and
what a form may do is what the incident, connection, notification and audit services decide for that
user: an operator's token finds another operator's incident nowhere (404, the not-found page).

Bounded throughout: the list reads at most ``WINDOW`` incidents (filtered by the incident service, then
by title text, sorted and paged here), the incident page reads one page of anomalies, the details of
the first ``SHOWN_CONNECTIONS`` blocked connections and the latest notifications of the operators the
incident concerns (``NOTIFICATION_PAGE`` each, at most ``NOTIFIED_OPERATORS`` operators).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timezone
from typing import Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shared.events.values import AssetKind, IncidentCategory, Tlp
from services.console.api import MAX_ANSWER_BYTES, ApiError
from services.console.i18n import JST, MESSAGES, register
from services.console.web import CONSOLE_ROLES, FormPage, Page, form_for, page_for, paginate

router = APIRouter()

READERS = CONSOLE_ROLES
PARTIES = ("utility_soc", "operator")
"""Who reports, files report parts, attaches notes and clears (the incident service decides each time)."""
WINDOW, API_PAGE = 1000, 200
"""The list reads at most WINDOW incidents matching the service-side filters, API_PAGE at a time."""
ANOMALY_PAGE, SHOWN_CONNECTIONS, NOTIFICATION_PAGE, NOTIFIED_OPERATORS = 50, 10, 200, 5
MAX_NOTE, MAX_IMPACTS, ASSET_ROWS = 4000, 50, 5
STATUSES = ("open", "cleared")
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
CATEGORIES: tuple[str, ...] = get_args(IncidentCategory)
TLPS: tuple[str, ...] = get_args(Tlp)
ASSET_KINDS: tuple[str, ...] = tuple(k for arg in get_args(AssetKind) for k in (get_args(arg) or (arg,)))
SORTS = ("detected_at", "severity", "status", "opened_at", "title")
INITIAL_FIELDS = ("event", "location", "response_plan")
CAUSE_FIELDS = ("cause", "countermeasure", "countermeasure_plan", "recurrence_prevention")
PARTS = ("initial", "cause")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

register({
    "incidents.title": ("インシデント", "Incidents"),
    "incidents.help": ("見ることのできるインシデントの一覧です(事業者は自社が関係するものだけ)。", "The incidents you may see (an operator: those that concern it)."),
    "incidents.new": ("インシデントを報告する", "Report an incident"),
    "incidents.f.status": ("状態", "Status"),
    "incidents.f.severity": ("重大度", "Severity"),
    "incidents.f.operator": ("事業者ID", "Operator id"),
    "incidents.f.q": ("件名に含む語", "Text in title"),
    "incidents.f.any": ("すべて", "Any"),
    "incidents.col.title": ("件名", "Title"),
    "incidents.col.status": ("状態", "Status"),
    "incidents.col.severity": ("重大度", "Severity"),
    "incidents.col.category": ("区分", "Category"),
    "incidents.col.tlp": ("TLP", "TLP"),
    "incidents.col.operators": ("事業者", "Operators"),
    "incidents.col.detected": ("検知 (JST)", "Detected (JST)"),
    "incidents.col.opened": ("起票 (JST)", "Opened (JST)"),
    "incidents.col.reports": ("報告 (版数)", "Reports (revisions)"),
    "incidents.sorted_asc": ("昇順", "ascending"),
    "incidents.sorted_desc": ("降順", "descending"),
    "incidents.empty": ("条件に合うインシデントはありません。絞り込みを解除するか、新しく報告してください。",
                        "No incident matches. Clear the filter, or report a new one."),
    "incidents.window": ("新しい {shown} 件のみを対象にしています(全 {total} 件)。絞り込みで対象を狭めてください。",
                         "Only the newest {shown} of {total} incidents are searched; narrow the filter."),
    "incidents.count": ("{total} 件", "{total} incidents"),
    "incidents.overdue": ("期限超過", "overdue"),
    "incidents.status.open": ("対応中", "open"),
    "incidents.status.cleared": ("解消", "cleared"),
    "incidents.severity.critical": ("緊急", "critical"),
    "incidents.severity.high": ("高", "high"),
    "incidents.severity.medium": ("中", "medium"),
    "incidents.severity.low": ("低", "low"),
    "incidents.category.security_incident": ("セキュリティインシデント", "security incident"),
    "incidents.category.terminal_loss": ("無線端末紛失", "terminal loss"),
    "incidents.category.credential_leak": ("認証情報漏洩", "credential leak"),
    "incidents.category.vulnerability": ("脆弱性", "vulnerability"),
    "incidents.category.unauthorized_access": ("不正アクセス", "unauthorized access"),
    "incidents.category.abnormal_communication": ("異常通信", "abnormal communication"),
    "incidents.category.other": ("その他", "other"),
    "incidents.side.utility": ("一般送配電事業者", "utility"),
    "incidents.side.operator": ("利用事業者", "operator"),
    "incidents.asset.smart_meter": ("電力SM(スマートメーター)", "smart meter"),
    "incidents.asset.sm_network": ("SM通信NW", "SM network"),
    "incidents.asset.hes": ("HES", "HES"),
    "incidents.asset.mdms": ("MDMS", "MDMS"),
    "incidents.asset.wheeling_system": ("託送業務システム", "wheeling system"),
    "incidents.asset.public_server": ("公開サーバ", "public server"),
    "incidents.asset.special_meter": ("特例計量器", "special meter"),
    "incidents.asset.wireless_terminal": ("無線端末", "wireless terminal"),
    "incidents.asset.iot_route": ("IoTルート", "IoT route"),
    "incidents.asset.external_server": ("外部サーバ", "external server"),
    # reporting an incident
    "incidents.new.help": ("発生・発見した事象を報告します。報告は相手方に通知されます。", "Report what happened or was found; the other party is notified."),
    "incidents.new.category": ("区分", "Category"),
    "incidents.new.severity": ("重大度", "Severity"),
    "incidents.new.tlp": ("TLP(情報共有の範囲)", "TLP (sharing)"),
    "incidents.new.title": ("件名", "Title"),
    "incidents.new.description": ("概要", "Description"),
    "incidents.new.detected_at": ("検知日時 (JST)", "Detected at (JST)"),
    "incidents.new.operator_id": ("対象の事業者ID", "Operator id it concerns"),
    "incidents.new.assets": ("影響を受ける資産(種別とID、責任分界は種別で決まります)", "Affected assets (kind and id; the responsible side follows from the kind)"),
    "incidents.new.asset_kind": ("資産 {n} の種別", "Asset {n} kind"),
    "incidents.new.asset_id": ("資産 {n} のID", "Asset {n} id"),
    "incidents.new.none": ("(なし)", "(none)"),
    "incidents.new.submit": ("報告する", "Report"),
    "incidents.new.bad_time": ("検知日時を読み取れません(例: 2026-04-01T09:30)。", "The detection time cannot be read (e.g. 2026-04-01T09:30)."),
    "incidents.refused": ("サービスが受け付けませんでした: {title}", "The service refused: {title}"),
    "incidents.reported": ("インシデントを報告しました。", "The incident was reported."),
    # the incident page
    "incident.facts": ("概要", "Summary"),
    "incident.id": ("インシデントID", "Incident id"),
    "incident.origin": ("起票のきっかけ", "Origin"),
    "incidents.origin.report": ("報告", "report"),
    "incidents.origin.anomaly": ("異常検知", "anomaly"),
    "incidents.origin.vulnerability": ("脆弱性の宣言", "vulnerability declaration"),
    "incident.opened_by": ("起票した側", "Opened by"),
    "incident.description": ("概要説明", "Description"),
    "incident.assets": ("影響を受ける資産と責任分界", "Affected assets and the responsible side"),
    "incident.asset_kind": ("種別", "Kind"),
    "incident.asset_id": ("ID", "Id"),
    "incident.asset_side": ("責任を負う側", "Responsible side"),
    "incident.no_assets": ("資産の記載はありません。", "No asset is listed."),
    "incident.overdue": ("報告期限を過ぎています: {parts}", "Report deadline missed: {parts}"),
    "incident.reports": ("報告(二部構成)", "Reports (two parts)"),
    "incident.part.initial": ("発生事象・対処計画", "Event and response plan"),
    "incident.part.cause": ("要因・対処方法", "Cause and countermeasures"),
    "incident.field.event": ("発生事象", "Event"),
    "incident.field.location": ("発生場所", "Location"),
    "incident.field.impacts": ("各機器およびシステムへの影響", "Impact on each device and system"),
    "incident.field.response_plan": ("今後の対応計画", "Response plan"),
    "incident.field.cause": ("発生原因", "Cause"),
    "incident.field.countermeasure": ("対策方法", "Countermeasure"),
    "incident.field.countermeasure_plan": ("対策計画", "Countermeasure plan"),
    "incident.field.recurrence_prevention": ("再発防止策", "Recurrence prevention"),
    "incident.impact.target": ("対象", "Device or system"),
    "incident.impact.impact": ("影響", "Impact"),
    "incident.impact.target_n": ("影響 {n} の対象", "Impact {n}: device or system"),
    "incident.impact.impact_n": ("影響 {n} の内容", "Impact {n}: impact"),
    "incident.revision": ("第{revision}版({count}版中)· {who} · {time}", "Revision {revision} of {count} · {who} · {time}"),
    "incident.not_filed": ("まだ提出されていません。", "Not filed yet."),
    "incident.older": ("以前の版 ({count})", "Earlier revisions ({count})"),
    "incident.file": ("提出する", "File"),
    "incident.revise": ("改訂版を提出する", "File a revision"),
    "incident.file.initial": ("発生事象・対処計画を提出", "File the event and response plan"),
    "incident.file.cause": ("要因・対処方法を提出", "File the cause and countermeasures"),
    "incident.filed": ("報告を提出しました。", "The report was filed."),
    "incident.impacts_help": ("1行に1つ、対象と影響を書きます(空の行は無視されます)。", "One device or system and its impact per row (empty rows are left out)."),
    "incident.blocks": ("遮断された接続", "Blocked connections"),
    "incident.blocks.more": ("ほかに {more} 件の接続が遮断されています(接続の一覧で確認できます)。", "{more} more connections are blocked (see the connections list)."),
    "incident.blocks.none": ("このインシデントで遮断された接続はありません。", "No connection was blocked for this incident."),
    "incident.conn.id": ("接続", "Connection"),
    "incident.conn.operator": ("事業者", "Operator"),
    "incident.conn.status": ("接続の状態", "Connection status"),
    "incident.conn.reason": ("遮断理由", "Block reason"),
    "incident.conn.approvals": ("再接続の承認", "Reconnection approvals"),
    "incident.conn.enforcement": ("実施状況", "Enforcement"),
    "incident.approved": ("承認済み", "approved"),
    "incident.not_approved": ("未承認", "not yet"),
    "incidents.cstatus.active": ("接続中", "active"),
    "incidents.cstatus.blocked": ("遮断中", "blocked"),
    "incidents.cstatus.awaiting_approval": ("再接続の承認待ち", "awaiting approval"),
    "incident.anomalies": ("検知された異常 ({count})", "Anomalies detected ({count})"),
    "incident.anomaly.time": ("観測 (JST)", "Observed (JST)"),
    "incident.anomaly.signal": ("シグナル", "Signal"),
    "incident.anomaly.type": ("種別", "Type"),
    "incident.anomaly.connection": ("接続", "Connection"),
    "incident.anomaly.attached": ("追加", "Attached"),
    "incident.anomaly.opened": ("起票", "Opened it"),
    "incident.notifications": ("通知と受領確認", "Notifications and acknowledgements"),
    "incident.notifications.help": ("関係する事業者の最新 {n} 件の通知から、このインシデントに関するものを表示しています。",
                                    "Shown from the latest {n} notifications of the operators concerned."),
    "incident.notifications.none": ("このインシデントに関する通知はまだありません。", "No notification about this incident yet."),
    "incident.n.title": ("件名", "Subject"),
    "incident.n.recipient": ("宛先", "Recipient"),
    "incident.n.status": ("状態", "Status"),
    "incident.n.queued": ("登録 (JST)", "Queued (JST)"),
    "incident.n.ack": ("受領確認", "Acknowledgement"),
    "incident.n.ack_button": ("受領を確認する", "Acknowledge"),
    "incident.n.acked": ("受領を確認しました。", "Acknowledged."),
    "incidents.nstatus.queued": ("送信待ち", "queued"),
    "incidents.nstatus.delivered": ("送信済み", "delivered"),
    "incidents.nstatus.failed": ("送信失敗", "failed"),
    "incidents.nstatus.acknowledged": ("受領確認済み", "acknowledged"),
    "incidents.nstatus.escalated": ("エスカレーション済み", "escalated"),
    "incident.timeline": ("経過", "Timeline"),
    "incident.timeline.truncated": ("最新 {shown} 件を表示しています(全 {total} 件。すべては記録簿にあります)。",
                                    "The latest {shown} of {total} entries are shown (the dossier has every one)."),
    "incident.notes": ("メモ", "Notes"),
    "incident.notes.none": ("メモはまだありません。", "No note yet."),
    "incident.note.text": ("メモ(4000字まで)", "Note (up to 4,000 characters)"),
    "incident.note.submit": ("メモを追加する", "Attach the note"),
    "incident.note.added": ("メモを追加しました。", "The note was attached."),
    "incident.clear": ("解消を宣言する", "Declare it cleared"),
    "incident.clear.help": ("解消には要因・対処方法の提出が必要です。解消すると、遮断された接続は両者の再接続承認待ちになります。",
                            "Clearing needs the cause report filed. Once cleared, its blocked connections await both parties' approval to reconnect."),
    "incident.clear.no_cause": ("要因・対処方法がまだ提出されていないため、今は解消できません。", "The cause report is not filed yet, so it cannot be cleared now."),
    "incident.clear.summary": ("解消の概要", "Summary of the resolution"),
    "incident.clear.submit": ("解消を宣言する…", "Declare cleared…"),
    "incident.clear.confirm_title": ("解消を宣言しますか?", "Declare this incident cleared?"),
    "incident.clear.confirm_help": ("解消は取り消せません。遮断された接続 {blocked} 件は再接続の承認待ちになり、相手方に通知されます。",
                                    "Clearing cannot be undone. Its {blocked} blocked connections will await approval to reconnect, and the other party is notified."),
    "incident.clear.confirm": ("解消を宣言する", "Declare cleared"),
    "incident.clear.cancel": ("取り消す", "Cancel"),
    "incident.cleared_notice": ("インシデントを解消しました。", "The incident was cleared."),
    "incident.clearing": ("解消", "Clearing"),
    "incident.clearing.by": ("{who}が {time} に解消: {summary}", "Cleared by the {who} at {time}: {summary}"),
    "incident.err.409_clear": ("解消できません: 要因・対処方法(原因報告)が提出されるまで、インシデントは解消できません。先に要因・対処方法を提出してください。",
                               "Cannot clear: an incident cannot be cleared until the cause report (要因・対処方法) is filed. File the cause report first."),
    "incident.err.closed": ("このインシデントは解消済みのため、変更できません。", "The incident is cleared; it can no longer be changed."),
    "incident.actions_readonly": ("この役割では閲覧のみです。", "This role reads only."),
    "incident.dossier": ("記録簿(ドシエ)", "Dossier"),
    "incident.dossier.open": ("記録簿を見る", "Open the dossier"),
    "incident.dossier.md": ("Markdownでダウンロード", "Download as Markdown"),
    "incident.dossier.json": ("JSONでダウンロード", "Download as JSON"),
    "incident.dossier.help": ("監査ログから組み立てた、このインシデントの全経過です(反映まで少し遅れることがあります)。",
                              "The incident's whole story as the audit log tells it (it may lag a moment behind)."),
    "incident.dossier.entries": ("記録 ({total})", "Entries ({total})"),
    "incident.dossier.entry": ("記録", "Entry"),
    "incident.dossier.subject": ("対象", "Subject"),
    "incident.dossier.actor": ("主体", "Actor"),
    "incident.dossier.generated": ("作成 {time}", "Generated {time}"),
    "incident.dossier.too_large": ("記録簿が大きすぎてコンソールでは扱えません。smguard dossier コマンドを使ってください。",
                                   "The dossier is too large for the console; use the smguard dossier command."),
    "incident.back": ("インシデントに戻る", "Back to the incident"),
    "incident.to_list": ("一覧へ", "All incidents"),
    "incident.time": ("日時 (JST)", "Time (JST)"),
    "incident.what": ("出来事", "What"),
    "incident.who": ("誰が", "Who"),
    "incident.detail": ("内容", "Details"),
    "incidents.ev.IncidentOpened": ("インシデント起票", "Incident opened"),
    "incidents.ev.AnomalyDetected": ("異常を検知(起票)", "Anomaly detected"),
    "incidents.ev.AnomalyAttached": ("異常を追加", "Anomaly attached"),
    "incidents.ev.VulnerabilityDeclared": ("脆弱性を宣言", "Vulnerability declared"),
    "incidents.ev.ReportFiled": ("報告を提出", "Report filed"),
    "incidents.ev.ReportOverdue": ("報告期限超過", "Report overdue"),
    "incidents.ev.IncidentNoteAttached": ("メモを追加", "Note attached"),
    "incidents.ev.IncidentCleared": ("解消", "Incident cleared"),
    "incidents.ev.ConnectionBlocked": ("接続を遮断", "Connection blocked"),
    "incidents.ev.BlockRequested": ("遮断の実施を依頼", "Block requested"),
    "incidents.ev.BlockEnforced": ("遮断を実施", "Block enforced"),
    "incidents.ev.ReconnectRequested": ("再接続の実施を依頼", "Reconnection requested"),
    "incidents.ev.ReconnectEnforced": ("再接続を実施", "Reconnection enforced"),
    "incidents.ev.NotificationQueued": ("通知を登録", "Notification queued"),
    "incidents.ev.NotificationDelivered": ("通知を送信", "Notification delivered"),
    "incidents.ev.NotificationAcknowledged": ("通知の受領確認", "Notification acknowledged"),
})


# ---------------------------------------------------------------------- the list


@router.get("/incidents", include_in_schema=False)
async def incident_list(request: Request, page: Page = Depends(page_for(*READERS))) -> Response:
    """Incidents the user may see: filtered (status, severity, operator by the service; title text here), sorted, paged."""
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    severity = q.get("severity") if q.get("severity") in SEVERITIES else None
    operator_id = (q.get("operator_id") or "").strip()[:200] or None if page.principal.role != "operator" else None
    text = (q.get("q") or "").strip()[:200]
    rows, total = await _read_window(page, {"status": status, "severity": severity, "operator_id": operator_id})
    if text:
        rows = [r for r in rows if text.casefold() in str(r.get("title") or "").casefold()]
    rows, sort = _sorted(rows, q.get("sort") or "-detected_at")
    shown, pager = paginate(rows, request, size=request.app.state.options.console_page_size)
    return page.render(
        "incidents/list.html", rows=shown, pager=pager, sort=sort, total=total, window=WINDOW, matched=len(rows),
        filters={"status": status or "", "severity": severity or "", "operator_id": operator_id or "", "q": text},
        statuses=STATUSES, severities=SEVERITIES, may_report=page.principal.role in PARTIES,
        sort_link=lambda field: _sort_link(request, sort, field),
    )  # fmt: skip


async def _read_window(page: Page, filters: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The newest WINDOW incidents matching the service-side filters, and how many match in all."""
    rows: list[dict[str, Any]] = []
    total, offset = 0, 0
    while len(rows) < WINDOW:
        answer = await page.api.get("incident", "/incidents", params={**filters, "limit": API_PAGE, "offset": offset})
        rows += answer["items"]
        total = answer["total"]
        if answer.get("next_offset") is None:
            break
        offset = answer["next_offset"]
    return rows[:WINDOW], total


def _sorted(rows: list[dict[str, Any]], wanted: str) -> tuple[list[dict[str, Any]], str]:
    """Rows sorted by one of SORTS (``-field`` descending); severity in its order of gravity, not alphabetically."""
    field = wanted.lstrip("-")
    if field not in SORTS:
        wanted, field = "-detected_at", "detected_at"

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row.get(field)
        if field == "severity":
            return (SEVERITIES[::-1].index(value) if value in SEVERITIES else -1,)
        if field in ("detected_at", "opened_at"):
            return (_when(value),)
        return (str(value or "").casefold(),)

    return sorted(rows, key=key, reverse=wanted.startswith("-")), wanted


def _when(value: Any) -> str:
    """A time as text that sorts as time does (every one in the same zone; '' for none or not a time)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _sort_link(request: Request, current: str, field: str) -> str:
    """The link of a column header: sort by it, the other way round when it is the sort already."""
    query = {k: v for k, v in request.query_params.items() if k not in ("sort", "page")}
    query["sort"] = field if current == f"-{field}" else f"-{field}"
    return "/incidents?" + "&".join(f"{k}={_q(v)}" for k, v in query.items())


def _q(value: str) -> str:
    return quote(str(value), safe="")


# ---------------------------------------------------------------------- reporting one


def _new_form(page: Page, *, values: dict[str, Any] | None = None, error: str | None = None, detail: str = "", status: int = 200) -> Response:
    now = datetime.now(JST).strftime("%Y-%m-%dT%H:%M")
    defaults = {"category": "security_incident", "severity": "medium", "tlp": "AMBER", "title": "", "description": "",
                "detected_at": now, "operator_id": "", "assets": []}  # fmt: skip
    values = {**defaults, **(values or {})}
    assets = list(values["assets"]) + [{"kind": "", "id": ""}] * max(0, ASSET_ROWS - len(values["assets"]))
    return page.render(
        "incidents/new.html", status_code=status, values=values, assets=assets, error=error, detail=detail,
        categories=CATEGORIES, severities=SEVERITIES, tlps=TLPS, asset_kinds=ASSET_KINDS,
        utility=page.principal.role != "operator", idem=uuid.uuid4().hex,
    )  # fmt: skip


@router.get("/incidents/new", include_in_schema=False)
async def new_incident(page: Page = Depends(page_for(*PARTIES))) -> Response:
    """The form to report an incident (the utility names the operator it concerns)."""
    return _new_form(page)


@router.post("/incidents/new", include_in_schema=False)
async def report_incident(form: FormPage = Depends(form_for(*PARTIES))) -> Response:
    """Report it; the new incident's page, or the form again with the service's refusal and the input kept."""
    kinds, ids = form.fields("asset_kind"), form.fields("asset_id")
    assets = [{"kind": k, "id": i} for k, i in zip(kinds, ids) if k or i][:200]
    values = {name: form.field(name) for name in ("category", "severity", "tlp", "title", "description", "detected_at", "operator_id")}
    values["assets"] = assets
    detected = _jst_input(values["detected_at"])
    if detected is None:
        return _new_form(form, values=values, error=form.t("incidents.new.bad_time"), status=422)
    body: dict[str, Any] = {
        "category": values["category"], "severity": values["severity"], "tlp": values["tlp"], "title": values["title"],
        "description": values["description"], "affected_assets": assets, "detected_at": detected.isoformat(),
    }  # fmt: skip
    if form.principal.role != "operator" and values["operator_id"]:
        body["operator_id"] = values["operator_id"]
    try:
        written = await form.api.post("incident", "/incidents", json=body, headers=_idem(form))
    except ApiError as exc:
        if exc.status < 400 or exc.status >= 500:
            raise
        return _new_form(form, values=values, error=_refusal(form, exc), detail=exc.detail, status=exc.status)
    return form.redirect(f"/incidents/{_q(written['id'])}", notice="incidents.reported")


def _jst_input(value: str) -> datetime | None:
    """A ``datetime-local`` value read as Japan time (a time with its own zone is taken as given)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def _idem(form: FormPage) -> dict[str, str]:
    """The form's own idempotency key: a form sent twice (a double click, a resend) is one write."""
    key = form.field("idem")
    return {"Idempotency-Key": key[:100]} if re.fullmatch(r"[A-Za-z0-9-]{8,100}", key) else {}


def _refusal(page: Page, exc: ApiError) -> str:
    """The service's refusal in the user's words (its own detail is shown beside it)."""
    key = f"error.{exc.status}"
    return page.t("incidents.refused", title=page.t(key) if key in MESSAGES else page.t("error.other"))


# ---------------------------------------------------------------------- the incident page


@router.get("/incidents/{incident_id}", include_in_schema=False)
async def incident_page(incident_id: str, request: Request, page: Page = Depends(page_for(*READERS))) -> Response:
    """One incident: facts, assets and sides, both report parts side by side, blocks, notifications, notes, the timeline."""
    return await _incident(page, incident_id, request)


async def _incident(page: Page, incident_id: str, request: Request, *, errors: dict[str, str] | None = None,
                    kept: dict[str, Any] | None = None, status: int = 200) -> Response:  # fmt: skip
    incident = await page.api.get("incident", f"/incidents/{_q(incident_id)}")
    try:
        anomaly_offset = max(0, int(request.query_params.get("anomalies", "0")))
    except ValueError:
        anomaly_offset = 0
    anomalies, connections, notifications = await asyncio.gather(
        _anomalies(page, incident, anomaly_offset), _connections(page, incident), _notifications(page, incident)
    )
    reports = {part: _revisions(incident["reports"][part]) for part in PARTS}
    role = page.principal.role
    open_ = incident["status"] == "open"
    return page.render(
        "incidents/incident.html", status_code=status, incident=incident, reports=reports, anomalies=anomalies,
        connections=connections, notifications=notifications, timeline=_timeline(incident, connections, notifications),
        may_write=role in PARTIES and open_, may_clear=role in PARTIES and open_, errors=errors or {}, kept=kept or {},
        forms=_report_forms(reports, kept or {}), initial_fields=INITIAL_FIELDS, cause_fields=CAUSE_FIELDS,
        idem=uuid.uuid4().hex, side=page.principal.party, notification_page=NOTIFICATION_PAGE, max_note=MAX_NOTE,
    )  # fmt: skip


def _revisions(revisions: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(revisions, key=lambda r: r.get("revision", 0))
    return {"latest": ordered[-1] if ordered else None, "older": ordered[:-1][::-1], "count": len(ordered)}


def _report_forms(reports: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """What each report form starts with: what the user sent (refused), else the latest revision to revise."""
    forms: dict[str, Any] = {}
    for part in PARTS:
        latest = reports[part]["latest"] or {}
        values = kept.get(part) or {name: latest.get(name, "") for name in (*INITIAL_FIELDS, *CAUSE_FIELDS)} | {
            "impacts": latest.get("impacts") or []
        }
        impacts = list(values.get("impacts") or [])
        rows = impacts + [{"target": "", "impact": ""}] * max(1, 3 - len(impacts))
        forms[part] = {**values, "impact_rows": rows[:MAX_IMPACTS]}
    return forms


async def _anomalies(page: Page, incident: dict[str, Any], offset: int) -> dict[str, Any] | None:
    """A page of the incident's anomalies (None when it has none)."""
    if not incident.get("anomaly_count"):
        return None
    answer = await page.api.get("incident", f"/incidents/{_q(incident['id'])}/anomalies", params={"offset": offset, "limit": ANOMALY_PAGE})
    base = f"/incidents/{_q(incident['id'])}?anomalies="
    prev = base + str(max(0, offset - ANOMALY_PAGE)) + "#anomalies" if offset > 0 else None
    nxt = base + str(answer["next_offset"]) + "#anomalies" if answer.get("next_offset") is not None else None
    return {**answer, "prev": prev, "next": nxt}


async def _connections(page: Page, incident: dict[str, Any]) -> list[dict[str, Any]]:
    """The first SHOWN_CONNECTIONS connections blocked for the incident, as the connection service shows them."""
    blocked = incident.get("blocked_connections") or []

    async def one(ref: dict[str, Any]) -> dict[str, Any]:
        try:
            found = await page.api.get("connection", f"/connections/{_q(ref['connection_id'])}")
        except ApiError:  # the connection service away (or not yet knowing it): the incident page still shows the rest
            return {**ref, "id": ref["connection_id"], "unavailable": True}
        hold = next((h for h in found.get("blocking_incidents", []) if h.get("incident_id") == incident["id"]), None)
        return {**found, "hold": hold}

    return list(await asyncio.gather(*(one(ref) for ref in blocked[:SHOWN_CONNECTIONS])))


async def _notifications(page: Page, incident: dict[str, Any]) -> list[dict[str, Any]]:
    """Notifications about the incident or its blocked connections, from the latest of each operator concerned."""
    principal = page.principal
    if principal.role == "operator":
        operators: list[str | None] = [principal.operator_id]
    else:
        concerned = [o for o in incident.get("operator_ids") or [] if o]
        operators = list(concerned[:NOTIFIED_OPERATORS]) if 0 < len(concerned) <= NOTIFIED_OPERATORS else [None]
    subjects = {incident["id"], *(b["connection_id"] for b in incident.get("blocked_connections") or [])}
    if incident.get("connection_id"):
        subjects.add(incident["connection_id"])

    async def of(operator_id: str | None) -> list[dict[str, Any]]:
        try:
            answer = await page.api.get("notification", "/notifications", params={"operator_id": operator_id, "limit": NOTIFICATION_PAGE})
        except ApiError:
            return []  # the notification service away: the rest of the page is still worth showing
        return answer.get("items", [])

    found: dict[str, dict[str, Any]] = {}
    for items in await asyncio.gather(*(of(o) for o in operators)):
        for n in items:
            if (n.get("domain_event") or {}).get("subject") in subjects:
                found[n["id"]] = n
    return sorted(found.values(), key=lambda n: _when(n.get("queued_at")))


def _timeline(incident: dict[str, Any], connections: list[dict[str, Any]], notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step in time order: the incident's own events (with what each said), blocks and their enforcement,
    notifications with their delivery and acknowledgement."""
    steps: list[dict[str, Any]] = []
    reports = {(r.get("filed_at"), part): r for part in PARTS for r in incident["reports"][part]}
    notes = {n.get("sequence"): n for n in incident.get("notes") or []}
    for entry in incident.get("timeline") or []:
        step = {"time": entry["time"], "type": entry["type"], "actor": entry.get("actor"), "detail": "", "part": None}
        if entry["type"] == "ReportFiled":
            for part in PARTS:
                if (entry["time"], part) in reports:
                    report = reports[(entry["time"], part)]
                    step.update(part=part, revision=report.get("revision"), side=report.get("filed_by"))
        elif entry["type"] == "IncidentNoteAttached" and entry.get("sequence") in notes:
            step.update(detail=notes[entry["sequence"]]["text"], side=notes[entry["sequence"]].get("attached_by"))
        elif entry["type"] == "IncidentCleared" and incident.get("clearing"):
            step.update(detail=incident["clearing"].get("summary", ""), side=incident["clearing"].get("cleared_by"))
        elif entry["type"] == "IncidentOpened":
            step.update(detail=incident.get("title") or "", side=incident.get("opened_by"))
        steps.append(step)
    for c in connections:
        if c.get("unavailable"):
            continue
        hold = c.get("hold")
        if hold and hold.get("blocked_at"):
            steps.append({"time": hold["blocked_at"], "type": "ConnectionBlocked", "actor": (hold.get("decided_by") or {}).get("id"),
                          "detail": f"{c['id']} ({hold.get('reason')})"})  # fmt: skip
        for r in c.get("enforcement_requests") or []:
            if r.get("incident_id") not in (incident["id"], None):
                continue
            block = r.get("action") == "block"
            if block and r.get("incident_id") != incident["id"]:
                continue
            if r.get("requested_at"):
                steps.append({"time": r["requested_at"], "type": "BlockRequested" if block else "ReconnectRequested", "actor": None,
                              "detail": c["id"]})  # fmt: skip
            if r.get("enforced_at"):
                steps.append({"time": r["enforced_at"], "type": "BlockEnforced" if block else "ReconnectEnforced", "actor": None,
                              "detail": c["id"]})  # fmt: skip
    for n in notifications:
        label = f"{n.get('title') or ''} → {(n.get('recipient') or {}).get('name') or ''}"
        steps.append({"time": n["queued_at"], "type": "NotificationQueued", "actor": None, "detail": label})
        if n.get("delivered_at"):
            steps.append({"time": n["delivered_at"], "type": "NotificationDelivered", "actor": None, "detail": label})
        if n.get("acknowledged_at"):
            steps.append({"time": n["acknowledged_at"], "type": "NotificationAcknowledged", "actor": n.get("acknowledged_by"), "detail": label})
    return sorted(steps, key=lambda s: _when(s["time"]))


def _kept_report(form: FormPage, part: str) -> dict[str, Any]:
    names = INITIAL_FIELDS if part == "initial" else CAUSE_FIELDS
    kept: dict[str, Any] = {name: form.field(name) for name in names}
    if part == "initial":
        targets, impacts = form.fields("impact_target"), form.fields("impact_text")
        kept["impacts"] = [{"target": t, "impact": i} for t, i in zip(targets, impacts) if t or i][:MAX_IMPACTS]
    return kept


@router.post("/incidents/{incident_id}/reports/{part}", include_in_schema=False)
async def file_report(incident_id: str, part: str, request: Request, form: FormPage = Depends(form_for(*PARTIES))) -> Response:
    """File or revise one report part; the page again with the refusal and the input kept when the service says no."""
    if part not in PARTS:
        raise ApiError("incident", 404, f"no report part {part!r}")
    kept = _kept_report(form, part)
    try:
        await form.api.post("incident", f"/incidents/{_q(incident_id)}/reports/{part}", json=kept, headers=_idem(form))
    except ApiError as exc:
        return await _refused(form, incident_id, request, exc, where=part, kept={part: kept})
    return _back(form, incident_id, "report-" + part, "incident.filed")


@router.post("/incidents/{incident_id}/notes", include_in_schema=False)
async def attach_note(incident_id: str, request: Request, form: FormPage = Depends(form_for(*PARTIES))) -> Response:
    """Attach a note to the incident."""
    text = form.field("text")
    try:
        await form.api.post("incident", f"/incidents/{_q(incident_id)}/notes", json={"text": text}, headers=_idem(form))
    except ApiError as exc:
        return await _refused(form, incident_id, request, exc, where="note", kept={"note": text})
    return _back(form, incident_id, "notes", "incident.note.added")


@router.post("/incidents/{incident_id}/clear", include_in_schema=False)
async def clear_incident(incident_id: str, request: Request, form: FormPage = Depends(form_for(*PARTIES))) -> Response:
    """Declare the incident cleared: first a confirmation page (works without JavaScript), then the service decides."""
    summary = form.field("summary")
    if form.field("confirmed") != "yes":
        incident = await form.api.get("incident", f"/incidents/{_q(incident_id)}")
        return form.render("incidents/confirm_clear.html", incident=incident, summary=summary, idem=uuid.uuid4().hex,
                           blocked=incident.get("blocked_count", 0))  # fmt: skip
    try:
        await form.api.post("incident", f"/incidents/{_q(incident_id)}/clear", json={"summary": summary}, headers=_idem(form))
    except ApiError as exc:
        return await _refused(form, incident_id, request, exc, where="clear", kept={"summary": summary})
    return _back(form, incident_id, "timeline", "incident.cleared_notice")


@router.post("/incidents/{incident_id}/notifications/{notification_id}/ack", include_in_schema=False)
async def acknowledge(incident_id: str, notification_id: str, request: Request,
                      form: FormPage = Depends(form_for(*READERS))) -> Response:  # fmt: skip
    """The recipient side acknowledges a notification about the incident (the notification service decides who may)."""
    try:
        await form.api.post("notification", f"/notifications/{_q(notification_id)}/ack", headers=_idem(form))
    except ApiError as exc:
        return await _refused(form, incident_id, request, exc, where="ack")
    return _back(form, incident_id, "notifications", "incident.n.acked")


def _back(form: FormPage, incident_id: str, anchor: str, notice: str) -> Response:
    """To the incident page at the part just changed, with the notice."""
    return form.redirect(f"/incidents/{_q(incident_id)}#{anchor}", notice=notice)


async def _refused(form: FormPage, incident_id: str, request: Request, exc: ApiError, *, where: str,
                   kept: dict[str, Any] | None = None) -> Response:  # fmt: skip
    """The incident page again, the refusal in the user's language at the form, what they wrote kept."""
    if exc.status == 0 or exc.status >= 500 or exc.status == 404 and where != "ack":
        raise exc  # the service away, or no such incident for this user: the error page says so
    if where == "clear" and exc.status == 409 and "cause report" in exc.detail:
        message = form.t("incident.err.409_clear")
    elif exc.status == 409 and "already cleared" in exc.detail:
        message = form.t("incident.err.closed")
    else:
        message = _refusal(form, exc)
    return await _incident(form, incident_id, request, errors={where: message, f"{where}_detail": exc.detail}, kept=kept,
                           status=exc.status)  # fmt: skip


# ---------------------------------------------------------------------- the dossier


@router.get("/incidents/{incident_id}/dossier", include_in_schema=False)
async def dossier_page(incident_id: str, request: Request, page: Page = Depends(page_for(*READERS))) -> Response:
    """The incident's dossier (the audit service decides who may read it) as a page, with its downloads."""
    dossier = await page.api.get("audit", f"/audit/dossiers/{_q(incident_id)}")
    entries = dossier.get("entries") or []
    reports = [e for e in entries if e.get("type") == "ReportFiled"]
    notes = [e for e in entries if e.get("type") == "IncidentNoteAttached"]
    shown, pager = paginate(entries, request, size=request.app.state.options.console_page_size)
    return page.render("incidents/dossier.html", incident_id=incident_id, dossier=dossier, summary=dossier.get("summary") or {},
                       reports=reports, notes=notes, entries=shown, pager=pager, initial_fields=INITIAL_FIELDS,
                       cause_fields=CAUSE_FIELDS)  # fmt: skip


@router.get("/incidents/{incident_id}/dossier.md", include_in_schema=False)
async def dossier_markdown(incident_id: str, page: Page = Depends(page_for(*READERS))) -> Response:
    """The dossier as a Markdown file to keep."""
    return await _download(page, incident_id, "md", "text/markdown; charset=utf-8")


@router.get("/incidents/{incident_id}/dossier.json", include_in_schema=False)
async def dossier_json(incident_id: str, page: Page = Depends(page_for(*READERS))) -> Response:
    """The dossier as a JSON file to keep."""
    return await _download(page, incident_id, "json", "application/json")


async def _download(page: Page, incident_id: str, kind: str, media_type: str) -> Response:
    answer = await page.api.call("GET", "audit", f"/audit/dossiers/{_q(incident_id)}", params={"format": kind}, raw=True)
    if len(answer.content) > MAX_ANSWER_BYTES:
        raise ApiError("audit", 413, page.t("incident.dossier.too_large"))
    name = SAFE_NAME.sub("_", incident_id)[:100] or "incident"
    return Response(answer.content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="incident-{name}-dossier.{kind}"'})  # fmt: skip

