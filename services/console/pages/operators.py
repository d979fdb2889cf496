"""The operators pages of the utility: who signed the agreement, and how each is keeping part 5 of it.

``/operators`` lists the onboarded operators (``GET /operators`` on the connection service, read a bounded
number of pages) with a filter, a sort and pages; the SOC onboards one there. ``/operators/{id}`` shows its
compliance (``GET /operators/{id}/compliance``: the last risk assessment and trainings, the leakage
controls in force, each yearly duty, what is overdue, the open status requests) and its contacts (the
notification service); the SOC asks it for a status report there. Utility roles and auditors only: an
operator keeps its own records in its portal.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.api import ApiError
from services.console.i18n import register
from services.console.web import FormPage, Page, form_for, page_for, paginate, sort_rows

router = APIRouter()
READERS = ("utility_soc", "utility_desk", "auditor")
Reader = Annotated[Page, Depends(page_for(*READERS))]
SocForm = Annotated[FormPage, Depends(form_for("utility_soc"))]

API_PAGE = 500
"""Operators asked of the connection service per call (its largest page)."""
MAX_LISTED = 2000
"""The most operators the list reads; beyond it, the page says so (a utility has tens to hundreds)."""
SORTS = ("operator_id", "name", "agreement_date")
MAX_QUERY = 200

register({
    "operators.title": ("事業者", "Operators"),
    "operators.intro": ("契約を結んだ利用事業者の一覧です。事業者を選ぶと、維持・運用(第5項)の状況と連絡先を確認できます。",
                        "The user operators that signed the agreement: pick one to see how it keeps part 5 (maintenance and operation) and its contacts."),
    "operators.filter": ("事業者IDまたは名称で絞り込み", "Filter by operator id or name"),
    "operators.id": ("事業者ID", "Operator id"),
    "operators.name": ("名称", "Name"),
    "operators.agreement_date": ("契約日", "Agreement date"),
    "operators.count": ("{total} 事業者(全 {all} 中)", "{total} operators (of {all})"),
    "operators.truncated": ("事業者が多いため、最初の {shown} 件のみ表示しています(全 {all} 件)。", "Many operators: the first {shown} are listed (of {all})."),
    "operators.empty": ("まだ事業者が登録されていません。SOCが下のフォームで事業者を登録できます。",
                        "No operator is onboarded yet: the SOC onboards one with the form below."),
    "operators.no_match": ("条件に合う事業者はいません。絞り込みを解除してください。", "No operator matches: clear the filter."),
    "operators.onboard": ("事業者の登録", "Onboard an operator"),
    "operators.onboard_help": ("契約を結んだ利用事業者を登録します。事業者IDはトークンの operator_id と同じにしてください。",
                               "Onboard a user operator that signed the agreement; its id is the operator_id of its staff's tokens."),
    "operators.onboard_submit": ("登録する", "Onboard"),
    "operators.onboarded": ("事業者を登録しました", "The operator is onboarded"),
    "operators.onboard_failed": ("事業者を登録できませんでした", "The operator could not be onboarded"),
    "operators.detail": ("事業者: {name}", "Operator: {name}"),
    "operators.back": ("事業者の一覧へ", "All operators"),
    "operators.audit_link": ("この事業者の監査ログ", "This operator's audit log"),
    "operators.compliance": ("維持・運用の状況(第5項)", "Maintenance and operation (part 5)"),
    "operators.as_of": ("{day} 時点", "As of {day}"),
    "operators.duties": ("年次の義務", "Yearly duties"),
    "operators.item": ("項目", "Item"),
    "operators.due_date": ("期限", "Due"),
    "operators.last_done": ("最終実施日", "Last done"),
    "operators.days_left": ("残り日数", "Days left"),
    "operators.state": ("状態", "State"),
    "operators.days_to_go": ("あと {n} 日", "{n} days to go"),
    "operators.days_over": ("{n} 日超過", "{n} days over"),
    "operators.state.ok": ("問題なし", "OK"),
    "operators.state.upcoming": ("期限間近", "Due soon"),
    "operators.state.overdue": ("期限超過", "Overdue"),
    "operators.item.risk_assessment": ("リスク評価(脆弱性調査など)", "Risk assessment (vulnerability survey etc.)"),
    "operators.item.training_education": ("セキュリティ教育", "Security education"),
    "operators.item.training_incident_drill": ("インシデント対応訓練", "Incident-response drill"),
    "operators.item.status_request": ("状況報告の依頼 {id}", "Status request {id}"),
    "operators.overdue": ("期限を過ぎた項目", "Overdue items"),
    "operators.none_overdue": ("期限を過ぎた項目はありません。", "Nothing is overdue."),
    "operators.last_assessment": ("最新のリスク評価", "Last risk assessment"),
    "operators.no_assessment": ("リスク評価の記録はまだありません。", "No risk assessment is recorded yet."),
    "operators.date": ("実施日", "Date"),
    "operators.scope": ("範囲", "Scope"),
    "operators.method": ("方法", "Method"),
    "operators.findings": ("指摘事項", "Findings"),
    "operators.remediation": ("対策状況", "Remediation"),
    "operators.last_trainings": ("最新の教育・訓練", "Last trainings"),
    "operators.participants": ("参加者数", "Participants"),
    "operators.not_recorded": ("記録なし", "Not recorded"),
    "operators.leakage": ("重要情報の漏洩対策", "Protection of important information"),
    "operators.no_leakage": ("漏洩対策の表明はまだありません。", "No leakage controls are attested yet."),
    "operators.attested_by": ("表明者", "Attested by"),
    "operators.controls": ("対策", "Controls"),
    "operators.uncovered": ("対策が指定されていない情報", "Information without a named control"),
    "operators.requests": ("未回答の状況報告依頼", "Open status requests"),
    "operators.no_requests": ("未回答の依頼はありません。", "No open request."),
    "operators.request_id": ("依頼ID", "Request id"),
    "operators.subject": ("依頼内容", "Subject"),
    "operators.reply_by": ("回答期限", "Reply by"),
    "operators.ask": ("状況報告を依頼する", "Ask for a status report"),
    "operators.ask_help": ("事業者に維持・運用の状況の提示を求めます(運用状況の提示)。事業者には通知されます。",
                           "Ask the operator to show how it is doing; it is notified."),
    "operators.ask_submit": ("依頼する", "Ask"),
    "operators.asked": ("状況報告を依頼しました", "The status report is requested"),
    "operators.ask_failed": ("依頼できませんでした", "The request could not be made"),
    "operators.contacts": ("連絡先", "Contacts"),
    "operators.no_contacts": ("連絡先が登録されていません。事業者にポータルで登録するよう依頼してください。",
                              "No contact is registered: ask the operator to register them in its portal."),
    "operators.contacts_unavailable": ("連絡先を取得できませんでした", "The contacts could not be read"),
    "operators.kind": ("種別", "Kind"),
    "operators.kind.security_incident": ("セキュリティインシデント発生時等の連絡先", "Security-incident contact"),
    "operators.kind.applicant": ("申込者さま連絡先", "Applicant contact"),
    "operators.contact_name": ("氏名", "Name"),
    "operators.organisation": ("組織", "Organisation"),
    "operators.email": ("メール", "E-mail"),
    "operators.phone": ("電話", "Phone"),
    "operators.webhook": ("Webhook", "Webhook"),
    "operators.updated_at": ("更新日時", "Updated"),
    "operators.bad_date": ("日付の形式が正しくありません(例: 2026-12-31)", "Not a date (e.g. 2026-12-31)"),
    "operators.required": ("必須項目です: {name}", "Required: {name}"),
})


def item_label(page: Page, item: str) -> str:
    """A due item's name in the user's language (``risk_assessment``, ``training:education``, ``status_request:ID``)."""
    kind, _, rest = item.partition(":")
    if kind == "status_request":
        return page.t("operators.item.status_request", id=rest)
    key = "operators.item." + item.replace(":", "_")
    label = page.t(key)
    return item if label == key else label


async def _all_operators(page: Page) -> tuple[list[dict[str, Any]], int]:
    """The operators the service lists, a bounded number of its pages; and how many it has."""
    rows: list[dict[str, Any]] = []
    total = 0
    while len(rows) < MAX_LISTED:
        answer = await page.api.get("connection", "/operators", params={"offset": len(rows), "limit": API_PAGE})
        rows += answer.get("items", [])
        total = int(answer.get("total", len(rows)))
        if answer.get("next_offset") is None or not answer.get("items"):
            break
    return rows[:MAX_LISTED], total


async def _list(page: Page, request: Request, *, form: dict[str, str] | None = None, error: str | None = None,
                error_title: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    rows, total = await _all_operators(page)
    wanted = request.query_params.get("q", "").strip()[:MAX_QUERY]
    needle = wanted.casefold()
    shown = [r for r in rows if needle in str(r.get("operator_id", "")).casefold() or needle in str(r.get("name", "")).casefold()]
    shown, sort = sort_rows(shown, request, SORTS, "operator_id")
    listed, pager = paginate(shown, request, size=request.app.state.options.console_page_size)
    return page.render(
        "operators/index.html", status_code=status_code, operators=listed, pager=pager, sort=sort, q=wanted,
        matching=len(shown), listed=len(rows), total=total, truncated=total > len(rows), form=form or {},
        error=error, error_title=error_title, today=date.today().isoformat(),
    )  # fmt: skip


@router.get("/operators", include_in_schema=False)
async def operators_list(request: Request, page: Reader) -> Response:
    """The operators, filtered by id or name, sorted, a page at a time; the SOC's onboarding form."""
    return await _list(page, request)


def _required(page: FormPage, names: dict[str, str]) -> str | None:
    missing = [label for name, label in names.items() if not page.field(name)]
    return page.t("operators.required", name=", ".join(missing)) if missing else None


def _day(value: str) -> str | None:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


@router.post("/operators", include_in_schema=False)
async def onboard(request: Request, page: SocForm) -> Response:
    """Onboard an operator (``POST /operators``); a refusal shows the form again with the input kept."""
    form = {name: page.field(name) for name in ("operator_id", "name", "agreement_date")}
    problem = _required(page, {"operator_id": page.t("operators.id"), "name": page.t("operators.name"),
                               "agreement_date": page.t("operators.agreement_date")})  # fmt: skip
    if problem is None and _day(form["agreement_date"]) is None:
        problem = page.t("operators.bad_date")
    if problem:
        return await _list(page, request, form=form, error=problem, error_title=page.t("operators.onboard_failed"), status_code=422)
    try:
        await page.api.post("connection", "/operators", json=form)
    except ApiError as exc:
        if exc.status == 0 or exc.status >= 500 or exc.status in (401, 403):
            raise
        return await _list(page, request, form=form, error=exc.detail, error_title=page.t("operators.onboard_failed"),
                           status_code=exc.status)  # fmt: skip
    return page.redirect(f"/operators/{quote(form['operator_id'], safe='')}", notice="operators.onboarded")


async def _contacts(page: Page, operator_id: str) -> tuple[list[dict[str, Any]], str | None]:
    """The operator's contacts from the notification service, or its words when they cannot be read."""
    try:
        answer = await page.api.get("notification", f"/operators/{quote(operator_id, safe='')}/contacts")
    except ApiError as exc:
        return [], exc.detail or page.t("error.unreachable", service=exc.service)
    return list(answer.get("contacts", [])), None


async def _detail(page: Page, operator_id: str, *, form: dict[str, str] | None = None, error: str | None = None,
                  status_code: int = 200) -> Response:  # fmt: skip
    compliance = await page.api.get("connection", f"/operators/{quote(operator_id, safe='')}/compliance")
    contacts, contacts_error = await _contacts(page, operator_id)
    label = lambda item: item_label(page, item)  # noqa: E731
    return page.render(
        "operators/detail.html", status_code=status_code, operator_id=operator_id, c=compliance, contacts=contacts,
        contacts_error=contacts_error, item_label=label, form=form or {}, error=error,
        may_ask=page.principal.role == "utility_soc", quoted=quote(operator_id, safe=""),
    )  # fmt: skip


@router.get("/operators/{operator_id}", include_in_schema=False)
async def operator_detail(operator_id: str, page: Reader) -> Response:
    """One operator's compliance and contacts; the SOC's status-request form."""
    return await _detail(page, operator_id)


@router.post("/operators/{operator_id}/status-requests", include_in_schema=False)
async def ask_status(operator_id: str, page: SocForm) -> Response:
    """Ask the operator for a status report (``POST /operators/{id}/status-requests``)."""
    form = {"subject": page.field("subject"), "reply_by": page.field("reply_by")}
    problem = _required(page, {"subject": page.t("operators.subject"), "reply_by": page.t("operators.reply_by")})
    if problem is None and _day(form["reply_by"]) is None:
        problem = page.t("operators.bad_date")
    if problem:
        return await _detail(page, operator_id, form=form, error=problem, status_code=422)
    try:
        await page.api.post("connection", f"/operators/{quote(operator_id, safe='')}/status-requests", json=form)
    except ApiError as exc:
        if exc.status == 0 or exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await _detail(page, operator_id, form=form, error=exc.detail, status_code=exc.status)
    return page.redirect(f"/operators/{quote(operator_id, safe='')}", notice="operators.asked")
