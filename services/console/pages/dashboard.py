"""The SOC dashboard (``/``): what needs the utility's attention now, and the live feed of events.

Open incidents by severity and age, blocked connections and their enforcement, connections awaiting
approval and who has approved, block recommendations to decide (the SOC; the desk reads them), reports
and compliance items overdue, and the newest events. Every section is read with the user's token, a
bounded number of calls per page; a section whose service does not answer says so and the others show.

Without JavaScript the page reads as it was rendered (reload for the latest). With htmx, the feed
follows ``/live/events`` (Server-Sent Events): each event's ``<li>`` is inserted at the top, and the
sections an event concerns are fetched again (``/dashboard/sections/{name}``) a moment after it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, AsyncIterator, Awaitable, Callable
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.console.api import Api, ApiError
from services.console.feed import FeedItem
from services.console.i18n import register, t
from services.console.sessions import COOKIE
from services.console.web import TEMPLATES, FormPage, Page, form_for, page, page_for
from shared.events.base import CATALOG
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, OPERATOR_EVENTS

log = logging.getLogger(__name__)
router = APIRouter()

ROLES = ("utility_soc", "utility_desk")
"""Who sees the dashboard; an operator's home is the portal, an auditor's the audit pages."""
ELSEWHERE = {"operator": "/portal", "auditor": "/audit"}
SEVERITIES = ("critical", "high", "medium", "low")
FETCH = 200
"""Incidents read per severity (the incident service's largest page): the oldest ones when there are more."""
CONNECTIONS_READ = 500
"""Blocked / awaiting connections and open recommendations read per section (the connection service's largest page)."""
ROWS = 20
"""Rows a section shows per page (a wall screen shows several sections at once)."""
FEED_ROWS = 50
COMPLIANCE_CALLS = 10
"""At most this many operators' compliance is read per page: those recently flagged overdue."""
COMPLIANCE_WINDOW = timedelta(days=400)
HEARTBEAT_SECONDS = 15.0
"""A comment on an idle stream this often, so proxies keep it open and a closed session is noticed."""
SECTIONS = ("incidents", "blocked", "awaiting", "recommendations", "overdue")
SIGNALS = {INCIDENT_EVENTS: "incidents", CONNECTION_EVENTS: "connections", OPERATOR_EVENTS: "operators"}
"""The SSE event a feed item also sends, by its topic: the sections that listen to it are fetched again."""
ATTENTION = {"escalated": 0, "pending": 1, "none": 2, "enforced": 3}

Dashboard = Annotated[Page, Depends(page_for(*ROLES))]


# ---------------------------------------------------------------------------------------------- reading


def _failed(exc: ApiError, lang: str) -> dict[str, str]:
    """What a section shows when its service refused or did not answer."""
    if exc.status == 0:
        title = t("error.unreachable", lang, service=exc.service)
    else:
        key = f"error.{exc.status}"
        title = t(key, lang) if key in _KNOWN_ERRORS else t("error.other", lang)
    return {"title": title, "detail": exc.detail}


_KNOWN_ERRORS = {f"error.{code}" for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}


async def _section(lang: str, read: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    try:
        return {"error": None, **await read()}
    except ApiError as exc:
        return {"error": _failed(exc, lang), "rows": [], "total": 0}


async def open_incidents(api: Api) -> dict[str, Any]:
    """Open incidents, the most severe first and among them the oldest first; counts per severity."""

    async def of(severity: str) -> tuple[list[dict[str, Any]], int]:
        params = {"status": "open", "severity": severity, "limit": FETCH}
        first = await api.get("incident", "/incidents", params=params)
        if first["total"] <= FETCH:
            return first["items"], first["total"]
        oldest = await api.get("incident", "/incidents", params={**params, "offset": first["total"] - FETCH})
        return oldest["items"], first["total"]

    found = await asyncio.gather(*(of(s) for s in SEVERITIES))
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    rows = sorted((i for items, _ in found for i in items), key=lambda i: (rank.get(i["severity"], 9), i["opened_at"], i["id"]))
    counts = {s: total for s, (_, total) in zip(SEVERITIES, found)}
    shown = sum(len(items) for items, _ in found)
    return {"rows": rows, "total": sum(counts.values()), "counts": counts, "partial": shown < sum(counts.values())}


def overdue_reports(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports past their deadline and still not filed, of the open incidents read."""
    rows = []
    for incident in incidents:
        for part in incident.get("overdue") or []:
            if not (incident.get("reports") or {}).get(part):
                rows.append({"incident": incident, "part": part})
    return sorted(rows, key=lambda r: (r["incident"]["opened_at"], r["part"]))


def _blocked_since(connection: dict[str, Any]) -> str:
    times = [h["blocked_at"] for h in connection.get("blocking_incidents", []) if h.get("blocked_at")]
    return min(times) if times else ""


async def blocked_connections(api: Api) -> dict[str, Any]:
    """Blocked connections, those whose enforcement needs attention first (escalated, pending), then the longest blocked."""
    page_ = await api.get("connection", "/connections", params={"status": "blocked", "limit": CONNECTIONS_READ})
    rows = [{**c, "blocked_since": _blocked_since(c)} for c in page_["items"]]
    rows.sort(key=lambda c: (ATTENTION.get(c["enforcement"], 9), c["blocked_since"], c["id"]))
    by_state: dict[str, int] = {}
    for c in rows:
        by_state[c["enforcement"]] = by_state.get(c["enforcement"], 0) + 1
    return {"rows": rows, "total": page_["total"], "by_state": by_state, "partial": len(rows) < page_["total"]}


async def awaiting_approval(api: Api) -> dict[str, Any]:
    """Connections cleared and awaiting both parties' approval, the longest waiting first."""
    page_ = await api.get("connection", "/connections", params={"status": "awaiting_approval", "limit": CONNECTIONS_READ})
    rows = sorted(page_["items"], key=lambda c: (c.get("updated_at") or "", c["id"]))
    return {"rows": rows, "total": page_["total"], "partial": len(rows) < page_["total"]}


async def recommendations(api: Api) -> dict[str, Any]:
    """Open block recommendations, oldest first (as the connection service lists them)."""
    rows = await api.get("connection", "/block-recommendations", params={"limit": CONNECTIONS_READ})
    return {"rows": rows, "total": len(rows), "partial": len(rows) >= CONNECTIONS_READ}


async def overdue_compliance(api: Api, request: Request) -> dict[str, Any]:
    """Operators whose yearly duties or status answers are overdue: those flagged (``ComplianceOverdue``) within
    the window, in the audit log or the live feed, each asked for its standing today (at most ``COMPLIANCE_CALLS``)."""
    since = (datetime.now(timezone.utc) - COMPLIANCE_WINDOW).isoformat()
    flagged = await api.get("audit", "/audit/entries", params={"type": "ComplianceOverdue", "since": since, "limit": 500})
    operators = [e.get("operator_id") for e in reversed(flagged.get("items", []))]
    operators += [i.operator_id for i in request.app.state.feed.recent if i.type == "ComplianceOverdue"]
    distinct = list(dict.fromkeys(o for o in operators if o))
    asked = distinct[:COMPLIANCE_CALLS]

    async def standing(operator_id: str) -> dict[str, Any] | None:
        try:
            return {"operator_id": operator_id, **await api.get("connection", f"/operators/{_quote(operator_id)}/compliance")}
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    standings = [s for s in await asyncio.gather(*(standing(o) for o in asked)) if s]
    rows = [
        {"operator_id": s["operator_id"], **item}
        for s in standings for item in s.get("overdue", [])
    ]  # fmt: skip
    rows.sort(key=lambda r: (r.get("due_date") or "", r["operator_id"], r["item"]))
    return {"rows": rows, "unchecked": max(0, len(distinct) - len(asked))}


def _quote(text: str) -> str:
    return quote(text, safe="")


def pager(items: list[Any], request: Request, name: str, *, size: int = ROWS) -> tuple[list[Any], dict[str, Any]]:
    """One page of a section's rows (``?<name>_page=N``), with links back to the dashboard at that section."""
    key = f"{name}_page"
    try:
        number = max(1, int(request.query_params.get(key, "1")))
    except ValueError:
        number = 1
    pages = max(1, -(-len(items) // size))
    number = min(number, pages)
    query = {k: v for k, v in request.query_params.items() if k != key}
    link = lambda n: "/?" + urlencode({**query, key: n}) + f"#{name}"  # noqa: E731
    return items[(number - 1) * size: number * size], {
        "page": number, "pages": pages, "total": len(items),
        "prev": link(number - 1) if number > 1 else None, "next": link(number + 1) if number < pages else None,
    }  # fmt: skip


async def sections(current: Page, wanted: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    """The data of the wanted sections, read concurrently; each one's rows paged."""
    api, lang, request = current.api, current.lang, current.request
    readers: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "incidents": lambda: open_incidents(api),
        "blocked": lambda: blocked_connections(api),
        "awaiting": lambda: awaiting_approval(api),
        "recommendations": lambda: recommendations(api),
        "compliance": lambda: overdue_compliance(api, request),
    }
    names = [n for n in readers if n in wanted or (n in ("incidents", "compliance") and "overdue" in wanted)]
    found = dict(zip(names, await asyncio.gather(*(_section(lang, readers[n]) for n in names))))
    out: dict[str, Any] = {}
    for name in ("incidents", "blocked", "awaiting", "recommendations"):
        if name in wanted:
            data = found[name]
            data["shown"], data["pager"] = pager(data["rows"], request, name)
            out[name] = data
    if "overdue" in wanted:
        reports = overdue_reports(found["incidents"]["rows"])
        compliance = found["compliance"]
        rows = [{"kind": "report", **r} for r in reports] + [{"kind": "compliance", **r} for r in compliance["rows"]]
        shown, paged = pager(rows, request, "overdue")
        out["overdue"] = {
            "rows": rows, "shown": shown, "pager": paged, "reports": len(reports), "compliance": len(compliance["rows"]),
            "unchecked": compliance.get("unchecked", 0), "error": found["incidents"]["error"] or compliance["error"],
        }  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------- pages


@router.get("/", include_in_schema=False)
async def dashboard(current: Annotated[Page, Depends(page)]) -> Response:
    """The dashboard for the utility's SOC and desk; other roles go to their own home."""
    role = current.principal.role
    if role in ELSEWHERE:
        return RedirectResponse(ELSEWHERE[role], status_code=303)
    if role not in ROLES:
        return current.render("error.html", status_code=403, status=403, title=current.t("error.403"), detail="", back=None)
    data = await sections(current)
    feed = current.request.app.state.feed.latest(current.principal, FEED_ROWS)
    query = urlencode(current.request.query_params)
    return current.render("dashboard/index.html", feed=feed, query=query, now=datetime.now(timezone.utc), **data)


@router.get("/dashboard/sections/{name}", include_in_schema=False)
async def section(name: str, current: Dashboard) -> Response:
    """One section again (htmx fetches it when an event concerns it)."""
    if name not in SECTIONS:
        raise HTTPException(404)
    data = await sections(current, (name,))
    query = urlencode(current.request.query_params)
    return current.render(f"dashboard/_{name}.html", query=query, **data)


@router.post("/dashboard/recommendations/{recommendation_id}/confirm", include_in_schema=False)
async def confirm_recommendation(recommendation_id: str, current: Annotated[FormPage, Depends(form_for("utility_soc"))]) -> Response:
    """Confirm a block recommendation: first a page that says what will be blocked, then (``confirmed``) the block."""
    found = await _recommendation(current, recommendation_id)
    if current.field("confirmed") != "yes":
        connection = await current.api.get("connection", f"/connections/{_quote(found['connection_id'])}")
        return current.render("dashboard/confirm.html", recommendation=found, connection=connection, error=None, note="")
    note = current.field("note")[:4000]
    try:
        await current.api.post("connection", f"/block-recommendations/{_quote(recommendation_id)}/confirm", json={"note": note})
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 0:
            raise
        connection = await current.api.get("connection", f"/connections/{_quote(found['connection_id'])}")
        return current.render("dashboard/confirm.html", status_code=exc.status, recommendation=found, connection=connection,
                              error=_failed(exc, current.lang), note=note)  # fmt: skip
    return current.redirect(f"/connections/{_quote(found['connection_id'])}", notice="dashboard.confirmed")


@router.post("/dashboard/recommendations/{recommendation_id}/reject", include_in_schema=False)
async def reject_recommendation(recommendation_id: str, current: Annotated[FormPage, Depends(form_for("utility_soc"))]) -> Response:
    """Reject a block recommendation: nothing is blocked, so no confirmation step."""
    await current.api.post("connection", f"/block-recommendations/{_quote(recommendation_id)}/reject",
                           json={"note": current.field("note")[:4000]})  # fmt: skip
    return current.redirect("/#recommendations", notice="dashboard.rejected")


async def _recommendation(current: Page, recommendation_id: str) -> dict[str, Any]:
    """An open recommendation (from the bounded list the service gives), or a 404 page saying it is decided."""
    listed = await current.api.get("connection", "/block-recommendations", params={"limit": CONNECTIONS_READ})
    for found in listed:
        if found["id"] == recommendation_id:
            return found
    raise ApiError("connection", 404, current.t("dashboard.recommendation_gone"))


# ---------------------------------------------------------------------------------------------- the live feed


async def follower(request: Request) -> AsyncIterator[Any]:
    """A follow of the live feed for this stream, or 503 when too many browsers already follow it."""
    async with request.app.state.feed.follow() as queue:
        if queue is None:
            raise HTTPException(503, "too many live streams; the page still reads without live updates",
                                headers={"Retry-After": "30"})  # fmt: skip
        yield queue


def feed_item_html(item: FeedItem, lang: str) -> str:
    """The feed line of one event, as the page shows it (one line of HTML)."""
    template = TEMPLATES.get_template("dashboard/_feed_item.html")
    html = template.render(item=item, lang=lang, t=lambda key, **values: t(key, lang, **values))
    return " ".join(html.split())


def signal_of(item: FeedItem) -> str | None:
    """The sections' SSE event for a feed item (by its topic), if any section listens to it."""
    kind = CATALOG.get(item.type)
    return SIGNALS.get(getattr(kind, "topic", "")) if kind else None


@router.get("/live/events", response_class=EventSourceResponse, include_in_schema=False)
async def live_events(
    request: Request, current: Dashboard, queue: Annotated[Any, Depends(follower)]
) -> AsyncIterator[ServerSentEvent]:
    """The live feed as Server-Sent Events: ``feed`` events carry each new event's ``<li>``; ``incidents``,
    ``connections`` and ``operators`` tell the sections to fetch themselves again. Ends with the session."""
    principal, lang, sessions = current.principal, current.lang, request.app.state.sessions
    cookie = request.cookies.get(COOKIE)
    alive = lambda: sessions.get(cookie) is not None  # noqa: E731 - signed out or expired: the stream ends
    missed = _after(request.app.state.feed.recent, request.headers.get("last-event-id"))
    for item in missed:
        if item.visible_to(principal):
            yield ServerSentEvent(event="feed", id=item.id, raw_data=feed_item_html(item, lang))
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
        except TimeoutError:
            if not alive():
                return
            yield ServerSentEvent(comment="heartbeat")
            continue
        if not alive():
            return
        if not item.visible_to(principal):
            continue
        yield ServerSentEvent(event="feed", id=item.id, raw_data=feed_item_html(item, lang))
        signal = signal_of(item)
        if signal:
            yield ServerSentEvent(event=signal, raw_data=item.type)


def _after(recent: Any, last_id: str | None) -> list[FeedItem]:
    """The kept events after the one a reconnecting browser saw last (none when it is not kept any more)."""
    if not last_id:
        return []
    items = list(recent)
    for index, item in enumerate(items):
        if item.id == last_id:
            return items[index + 1:]
    return []


register({
    "dashboard.title": ("SOCダッシュボード", "SOC dashboard"),
    "dashboard.as_of": ("{time} 時点", "As of {time}"),
    "dashboard.reload": ("再読み込み", "Reload"),
    "dashboard.incidents": ("未解消のインシデント", "Open incidents"),
    "dashboard.incidents_empty": ("未解消のインシデントはありません。センサーの異常通知や事業者からの報告があればここに表示されます。",
                                  "No open incidents. Anomalies from the sensors and operators' reports appear here."),
    "dashboard.all_incidents": ("すべての未解消インシデント", "All open incidents"),
    "dashboard.blocked": ("遮断中の接続", "Blocked connections"),
    "dashboard.blocked_empty": ("遮断中の接続はありません。遮断されると、ネットワークでの実施状況とともにここに表示されます。",
                                "No connection is blocked. A blocked connection appears here with its enforcement on the network."),
    "dashboard.all_blocked": ("遮断中の接続の一覧", "All blocked connections"),
    "dashboard.awaiting": ("再接続の承認待ち", "Awaiting reconnection approval"),
    "dashboard.awaiting_empty": ("承認待ちの接続はありません。インシデントが解消されると、遮断された接続がここで双方の承認を待ちます。",
                                 "Nothing awaits approval. When an incident is cleared, its blocked connections wait here for both sides' approval."),
    "dashboard.all_awaiting": ("承認待ちの接続の一覧", "All connections awaiting approval"),
    "dashboard.recommendations": ("遮断の推奨", "Block recommendations"),
    "dashboard.recommendations_empty": ("判断待ちの遮断推奨はありません。遮断ポリシーが「推奨」の理由で異常があると、ここで確定か却下を選びます。",
                                        "No recommendation to decide. When an anomaly's reason is set to 'recommend' in the block policy, confirm or reject it here."),
    "dashboard.recommendations_readonly": ("遮断の判断は電力会社SOCが行います(閲覧のみ)。", "The utility SOC decides blocks (read-only here)."),
    "dashboard.overdue": ("期限超過", "Overdue"),
    "dashboard.overdue_empty": ("期限を過ぎた報告やコンプライアンス項目はありません。期限を過ぎると、ここで対象の事業者やインシデントに連絡できます。",
                                "No report or compliance item is overdue. When one is, it shows here with the operator or incident to follow up."),
    "dashboard.overdue_unchecked": ("ほかに {n} 事業者が期限超過として通知されています。事業者の一覧で確認してください。",
                                    "{n} more operators were flagged overdue; see the operators list."),
    "dashboard.overdue_counts": ("報告 {reports} 件・コンプライアンス {compliance} 件", "{reports} reports · {compliance} compliance items"),
    "dashboard.feed": ("ライブフィード", "Live feed"),
    "dashboard.feed_empty": ("まだイベントはありません。新しいイベントはここに上から追加されます。", "No events yet. New events are added at the top."),
    "dashboard.partial": ("表示できる件数を超えています。一覧ページですべて確認できます。", "More than the dashboard reads; the list page shows them all."),
    "dashboard.count": ("{n} 件", "{n}"),
    "dashboard.col.severity": ("重大度", "Severity"),
    "dashboard.col.incident": ("インシデント", "Incident"),
    "dashboard.col.category": ("分類", "Category"),
    "dashboard.col.operator": ("事業者", "Operator"),
    "dashboard.col.opened": ("発生", "Opened"),
    "dashboard.col.age": ("経過", "Age"),
    "dashboard.col.reports": ("報告", "Reports"),
    "dashboard.col.connection": ("接続", "Connection"),
    "dashboard.col.equipment": ("機器", "Equipment"),
    "dashboard.col.blocked_since": ("遮断開始", "Blocked since"),
    "dashboard.col.blocking": ("遮断理由のインシデント", "Blocking incidents"),
    "dashboard.col.enforcement": ("実施状況", "Enforcement"),
    "dashboard.col.utility_approval": ("電力会社の承認", "Utility approval"),
    "dashboard.col.operator_approval": ("事業者の承認", "Operator approval"),
    "dashboard.col.waiting": ("待機開始", "Waiting since"),
    "dashboard.col.reason": ("理由", "Reason"),
    "dashboard.col.decide": ("判断", "Decision"),
    "dashboard.col.what": ("項目", "Item"),
    "dashboard.col.due": ("期限", "Due"),
    "dashboard.reports_count": ("初報 {initial}・要因 {cause}", "initial {initial} · cause {cause}"),
    "dashboard.approved_by": ("承認済み({who})", "Approved ({who})"),
    "dashboard.not_yet": ("未承認", "Not yet"),
    "dashboard.overdue_report": ("報告の期限超過", "report overdue"),
    "dashboard.report.initial": ("発生事象・対処計画(初報)", "Initial report (event and response plan)"),
    "dashboard.report.cause": ("要因・対処方法", "Cause report (cause and countermeasures)"),
    "dashboard.compliance.risk_assessment": ("リスクアセスメント", "Risk assessment"),
    "dashboard.compliance.training:education": ("セキュリティ教育", "Security education"),
    "dashboard.compliance.training:incident_drill": ("対応訓練", "Incident drill"),
    "dashboard.compliance.status_request": ("運用状況の提示依頼への回答", "Answer to a status request"),
    "dashboard.days_late": ("{n} 日超過", "{n} days late"),
    "dashboard.confirm": ("確定…", "Confirm…"),
    "dashboard.reject": ("却下", "Reject"),
    "dashboard.confirm_title": ("遮断の確定", "Confirm the block"),
    "dashboard.confirm_lead": ("この接続を遮断します。遮断はネットワーク上で実施され、事業者に通知されます。再接続にはインシデントの解消と双方の承認が必要です。",
                               "This connection will be blocked on the network and its operator notified. Reconnection needs the incident cleared and both sides' approval."),
    "dashboard.confirm_do": ("遮断を確定する", "Block this connection"),
    "dashboard.cancel": ("やめる(ダッシュボードへ戻る)", "Cancel (back to the dashboard)"),
    "dashboard.note": ("メモ(任意)", "Note (optional)"),
    "dashboard.confirmed": ("遮断を確定しました。", "The block was confirmed."),
    "dashboard.rejected": ("遮断の推奨を却下しました。", "The recommendation was rejected."),
    "dashboard.recommendation_gone": ("この推奨はすでに判断済みか、インシデントが解消されています。", "This recommendation was already decided, or its incident was cleared."),
    "dashboard.enforcement.none": ("依頼なし", "none"),
    "dashboard.enforcement.pending": ("実施待ち", "pending"),
    "dashboard.enforcement.enforced": ("実施済み", "enforced"),
    "dashboard.enforcement.escalated": ("エスカレーション", "escalated"),
    "dashboard.severity.critical": ("緊急", "critical"),
    "dashboard.severity.high": ("高", "high"),
    "dashboard.severity.medium": ("中", "medium"),
    "dashboard.severity.low": ("低", "low"),
    "dashboard.reason.serious_vulnerability": ("重大な脆弱性", "serious vulnerability"),
    "dashboard.reason.unauthorized_access": ("不正アクセス", "unauthorized access"),
    "dashboard.reason.abnormal_communication": ("異常通信", "abnormal communication"),
    "dashboard.live_off": ("ライブ更新は停止中です(再読み込みで最新になります)。", "Live updates are off (reload for the latest)."),
    "dashboard.event.AnomalyDetected": ("異常を検知", "Anomaly detected"),
    "dashboard.event.IncidentOpened": ("インシデント発生", "Incident opened"),
    "dashboard.event.AnomalyAttached": ("異常を追加", "Anomaly attached"),
    "dashboard.event.VulnerabilityDeclared": ("脆弱性を宣言", "Vulnerability declared"),
    "dashboard.event.ReportFiled": ("報告を提出", "Report filed"),
    "dashboard.event.ReportOverdue": ("報告の期限超過", "Report overdue"),
    "dashboard.event.IncidentCleared": ("インシデント解消", "Incident cleared"),
    "dashboard.event.ConnectionRegistered": ("接続を登録", "Connection registered"),
    "dashboard.event.BlockRecommended": ("遮断を推奨", "Block recommended"),
    "dashboard.event.BlockRecommendationRejected": ("遮断推奨を却下", "Block recommendation rejected"),
    "dashboard.event.ConnectionBlocked": ("接続を遮断", "Connection blocked"),
    "dashboard.event.BlockEnforced": ("遮断を実施", "Block enforced"),
    "dashboard.event.BlockEnforcementFailed": ("遮断の実施に失敗", "Block enforcement failed"),
    "dashboard.event.BlockReleased": ("遮断理由が解消", "Block released"),
    "dashboard.event.ReconnectionApproved": ("再接続を承認", "Reconnection approved"),
    "dashboard.event.ConnectionReconnected": ("再接続", "Connection reconnected"),
    "dashboard.event.ReconnectEnforced": ("再接続を実施", "Reconnect enforced"),
    "dashboard.event.BlockPolicyChanged": ("遮断ポリシーを変更", "Block policy changed"),
    "dashboard.event.OperatorOnboarded": ("事業者を登録", "Operator onboarded"),
    "dashboard.event.ComplianceOverdue": ("コンプライアンス期限超過", "Compliance overdue"),
    "dashboard.event.StatusRequested": ("運用状況の提示を依頼", "Status requested"),
    "dashboard.event.StatusReported": ("運用状況を報告", "Status reported"),
    "dashboard.event.NotificationQueued": ("通知を送信待ち", "Notification queued"),
    "dashboard.event.NotificationDelivered": ("通知を配信", "Notification delivered"),
    "dashboard.event.NotificationFailed": ("通知に失敗", "Notification failed"),
    "dashboard.event.NotificationAcknowledged": ("通知を確認", "Notification acknowledged"),
    "dashboard.event.NotificationEscalated": ("通知をエスカレーション", "Notification escalated"),
    "dashboard.event.NotificationExtended": ("まとめ通知に追加", "Notification extended"),
    "dashboard.event.NotificationFollowedUp": ("まとめ通知の続報", "Notification followed up"),
    "dashboard.event.ContactRegistered": ("連絡先を登録", "Contact registered"),
    "dashboard.event.ContactChanged": ("連絡先を変更", "Contact changed"),
    "dashboard.event.CredentialsCompromised": ("認証情報の漏洩", "Credentials compromised"),
    "dashboard.event.SecretsRotated": ("認証情報を更新", "Secrets rotated"),
    "dashboard.event.SecretsResealed": ("認証情報を再暗号化", "Secrets resealed"),
    "dashboard.event.EnforcementEscalated": ("遮断・再接続の実施をエスカレーション", "Enforcement escalated"),
    "dashboard.event.RiskAssessmentRecorded": ("リスクアセスメントを記録", "Risk assessment recorded"),
    "dashboard.event.TrainingRecorded": ("教育・訓練を記録", "Training recorded"),
    "dashboard.event.LeakageControlsAttested": ("漏洩対策を表明", "Leakage controls attested"),
})
