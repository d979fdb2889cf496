"""The operator portal: one operator's connections, incidents and the reports it owes, contacts, compliance
(part 5 of the agreement), and registering many meters at once from a CSV file.

Only the operator role opens it, and always for the operator in its token: every call names that operator
and the services check it again. Split in sub-pages: ``/portal`` (overview and incidents),
``/portal/contacts``, ``/portal/compliance``, ``/portal/bulk``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from services.console.api import ApiError
from services.console.i18n import register
from services.console.pages.connections import STATUSES, key_of, new_key, problem, sort_links, status_of
from services.console.web import FormPage, Page, form_for, page_for, paginate, sort_rows

router = APIRouter()
CONTACT_KINDS = ("security_incident", "applicant")
CONTACT_FIELDS = ("name", "organisation", "email", "phone", "webhook_url")
INCIDENTS_READ = 200
"""The most incidents the overview reads (the incident service's own page bound)."""
INCIDENT_SORTS = ("detected_at", "severity", "title", "status")
SEVERITY_ORDER = {"critical": "0", "high": "1", "medium": "2", "low": "3"}
TRAINING_KINDS = ("education", "incident_drill")
BULK_COLUMNS = ("kind", "maker", "model", "firmware", "smart_meter_ids", "auth_id", "password", "pairing_id")
"""The CSV columns ``POST /connections/bulk`` reads (an operator leaves ``operator_id`` out)."""

register({
    "portal.title": ("事業者ポータル", "Operator portal"),
    "portal.overview": ("概要", "Overview"),
    "portal.contacts": ("連絡先", "Contacts"),
    "portal.compliance": ("維持・運用", "Compliance"),
    "portal.bulk": ("一括登録", "Bulk registration"),
    "portal.sections": ("ポータル内のページ", "Portal pages"),
    "portal.connections": ("接続", "Connections"),
    "portal.connections_total": ("登録済みの接続: {total}件", "Registered connections: {total}"),
    "portal.connections_none": ("接続はまだありません。接続を登録するか、CSVで一括登録してください。",
                                "No connection yet: register one, or many at once from a CSV file."),
    "portal.incidents": ("インシデントと提出すべき報告", "Incidents and the reports you owe"),
    "portal.incidents_none": ("該当するインシデントはありません。インシデントを報告するときは「インシデント」から。",
                              "No incident here. To report one, go to Incidents."),
    "portal.incident": ("インシデント", "Incident"),
    "portal.severity": ("重大度", "Severity"),
    "portal.detected_at": ("検知日時", "Detected"),
    "portal.status": ("状態", "Status"),
    "portal.open": ("対応中", "open"),
    "portal.cleared": ("解消済み", "cleared"),
    "portal.any": ("すべて", "Any"),
    "portal.initial": ("発生事象・対処計画", "Initial report"),
    "portal.cause": ("要因・対処方法", "Cause report"),
    "portal.filed": ("提出済み(第{n}版)", "Filed (revision {n})"),
    "portal.owed": ("未提出", "Not filed"),
    "portal.overdue": ("期限超過", "Overdue"),
    "portal.due_by": ("期限 {at}", "due {at}"),
    "portal.overdue_count": ("期限超過の項目: {n}件", "Overdue items: {n}"),
    "portal.requests_count": ("未回答の状況提示依頼: {n}件", "Unanswered status requests: {n}"),
    "portal.contacts_count": ("登録済みの連絡先: {n}/2", "Contacts registered: {n} of 2"),
    "portal.contact.security_incident": ("セキュリティインシデント発生時等の連絡先", "Security-incident contact"),
    "portal.contact.applicant": ("申込者さま連絡先", "Applicant contact"),
    "portal.contact_none": ("未登録です。電力会社からの連絡を受けるため登録してください。",
                            "Not registered: register it so that the utility can reach you."),
    "portal.contact_help": ("変更すると電力会社へ直ちに通知されます。", "A change is told to the utility at once."),
    "portal.name": ("氏名", "Name"),
    "portal.organisation": ("組織", "Organisation"),
    "portal.email": ("メール", "E-mail"),
    "portal.phone": ("電話", "Phone"),
    "portal.webhook_url": ("Webhook URL(任意)", "Webhook URL (optional)"),
    "portal.updated_at": ("更新日時", "Updated"),
    "portal.save": ("保存する", "Save"),
    "portal.contact_saved": ("連絡先を保存しました", "The contact was saved"),
    "portal.duties": ("年次の義務", "Yearly duties"),
    "portal.item": ("項目", "Item"),
    "portal.due_date": ("期限", "Due"),
    "portal.last_done": ("前回実施", "Last done"),
    "portal.days_left": ("残り日数", "Days left"),
    "portal.state": ("状態", "State"),
    "portal.state.ok": ("問題なし", "ok"),
    "portal.state.upcoming": ("期限間近", "due soon"),
    "portal.state.overdue": ("期限超過", "overdue"),
    "portal.item.risk_assessment": ("リスクアセスメント", "Risk assessment"),
    "portal.item.training:education": ("セキュリティ教育", "Security education"),
    "portal.item.training:incident_drill": ("インシデント対応訓練", "Incident drill"),
    "portal.never": ("未実施", "never"),
    "portal.requests": ("状況提示の依頼", "Status requests"),
    "portal.requests_none": ("未回答の依頼はありません。", "No request waits for an answer."),
    "portal.reply_by": ("回答期限", "Reply by"),
    "portal.subject": ("依頼内容", "Subject"),
    "portal.summary": ("運用状況の回答", "Your answer"),
    "portal.answer": ("回答する", "Answer"),
    "portal.answered": ("状況提示に回答しました", "The status request was answered"),
    "portal.assessment": ("リスクアセスメントを記録", "Record a risk assessment"),
    "portal.last_assessment": ("前回のリスクアセスメント", "Last risk assessment"),
    "portal.date": ("実施日", "Date"),
    "portal.scope": ("対象範囲", "Scope"),
    "portal.method": ("方法", "Method"),
    "portal.findings_summary": ("結果の概要", "Findings"),
    "portal.remediation_status": ("対処状況", "Remediation status"),
    "portal.recorded": ("記録しました", "Recorded"),
    "portal.training": ("教育・訓練を記録", "Record training"),
    "portal.training_kind": ("種類", "Kind"),
    "portal.kind.education": ("セキュリティ教育", "Security education"),
    "portal.kind.incident_drill": ("インシデント対応訓練", "Incident drill"),
    "portal.participants": ("参加者数", "Participants"),
    "portal.leakage": ("重要情報の漏洩対策を表明", "Attest leakage controls"),
    "portal.leakage_in_force": ("表明済みの漏洩対策", "Leakage controls in force"),
    "portal.controls": ("対策(1行に1つ)", "Controls (one per line)"),
    "portal.attested_by": ("表明者", "Attested by"),
    "portal.uncovered": ("対策が割り当てられていない情報: {info}", "Information without a named control: {info}"),
    "portal.none_yet": ("まだ記録がありません。", "Nothing recorded yet."),
    "portal.bulk_help": ("CSVファイル(UTF-8、見出し行あり)の各行を1件の接続として登録します。列: {columns}。smart_meter_ids は「;」区切り。最大 {size}。",
                         "Each row of a CSV file (UTF-8, with a header row) registers one connection. Columns: {columns}; smart_meter_ids separated by “;”. At most {size}."),
    "portal.file": ("CSVファイル", "CSV file"),
    "portal.upload": ("アップロードして登録", "Upload and register"),
    "portal.no_file": ("CSVファイルを選んでください。", "Choose a CSV file."),
    "portal.too_large": ("ファイルが大きすぎます(最大 {size})。分割してください。", "The file is too large (at most {size}); split it."),
    "portal.bulk_result": ("結果: 登録 {registered}件、拒否 {refused}件", "Result: {registered} registered, {refused} refused"),
    "portal.row": ("行", "Row"),
    "portal.outcome": ("結果", "Outcome"),
    "portal.row_ok": ("登録済み", "registered"),
})


def operator_path(page: Page, tail: str = "") -> str:
    """The service path of the signed-in operator (its own tenant, from its token)."""
    return f"/operators/{quote(page.principal.operator_id or '', safe='')}{tail}"


Operator = Annotated[Page, Depends(page_for("operator"))]
OperatorForm = Annotated[FormPage, Depends(form_for("operator"))]


def _owes(incident: dict[str, Any]) -> dict[str, Any]:
    filed = incident.get("reports") or {}
    overdue = set(incident.get("overdue") or [])
    due = incident.get("report_due") or {}
    parts = {part: {"filed": filed.get(part, 0), "overdue": part in overdue, "due": due.get(part)} for part in ("initial", "cause")}
    return {**incident, "parts": parts, "rank": SEVERITY_ORDER.get(incident.get("severity", ""), "9")}


@router.get("/portal", include_in_schema=False)
async def portal(page: Operator) -> Response:
    """The overview: connections by status, incidents with the reports owed, compliance and contacts at a glance."""
    api, query = page.api, page.request.query_params
    counts = {s: (await api.get("connection", "/connections", params={"status": s, "limit": 1}))["total"] for s in STATUSES}
    status = query.get("status", "open") if query.get("status", "open") in ("open", "cleared", "") else "open"
    found = await api.get("incident", "/incidents", params={"status": status, "limit": INCIDENTS_READ})
    rows = [_owes(i) for i in found["items"]]
    wanted = query.get("sort", "-detected_at")
    if wanted.lstrip("-") == "severity":  # by rank, not by the word
        rows = sorted(rows, key=lambda r: r["rank"], reverse=wanted.startswith("-"))
        sort = wanted
    else:
        rows, sort = sort_rows(rows, page.request, INCIDENT_SORTS, "-detected_at")
    shown, pager = paginate(rows, page.request, size=page.request.app.state.options.console_page_size)
    compliance = await api.get("connection", operator_path(page, "/compliance"))
    contacts = (await api.get("notification", operator_path(page, "/contacts")))["contacts"]
    return page.render(
        "portal/home.html", section="overview", counts=counts, total=sum(counts.values()), incidents=shown,
        pager=pager, sorts=sort_links(page, INCIDENT_SORTS, sort), status=status, compliance=compliance,
        contacts=contacts, incidents_total=found["total"], incidents_read=len(found["items"]),
    )  # fmt: skip


async def _contacts(page: Page, *, status_code: int = 200, kind: str | None = None, values: dict[str, str] | None = None,
                    error: dict[str, str] | None = None) -> Response:  # fmt: skip
    known = {c["kind"]: c for c in (await page.api.get("notification", operator_path(page, "/contacts")))["contacts"]}
    forms = {k: (values if k == kind and values is not None else known.get(k) or {}) for k in CONTACT_KINDS}
    return page.render("portal/contacts.html", section="contacts", known=known, forms=forms, kinds=CONTACT_KINDS,
                       error_kind=kind, error=error, status_code=status_code)  # fmt: skip


@router.get("/portal/contacts", include_in_schema=False)
async def contacts(page: Operator) -> Response:
    """The operator's two contacts, each with its form."""
    return await _contacts(page)


@router.post("/portal/contacts/{kind}", include_in_schema=False)
async def contact_save(kind: str, form: OperatorForm) -> Response:
    """Register or change one contact (``PUT /operators/{id}/contacts/{kind}``)."""
    values = {name: form.field(name) for name in CONTACT_FIELDS}
    body = {name: value for name, value in values.items() if value or name != "webhook_url"}
    if kind not in CONTACT_KINDS:
        return await _contacts(form, status_code=404)
    try:
        await form.api.put("notification", operator_path(form, f"/contacts/{kind}"), json=body, headers={"Idempotency-Key": new_key()})
    except ApiError as exc:
        return await _contacts(form, status_code=status_of(exc), kind=kind, values=values, error=problem(form, exc))
    return form.redirect("/portal/contacts", notice="portal.contact_saved")


async def _compliance(page: Page, *, status_code: int = 200, which: str | None = None, values: dict[str, Any] | None = None,
                      error: dict[str, str] | None = None) -> Response:  # fmt: skip
    standing = await page.api.get("connection", operator_path(page, "/compliance"))
    return page.render("portal/compliance.html", section="compliance", s=standing, which=which, values=values or {},
                       error=error, key=new_key(), training_kinds=TRAINING_KINDS, status_code=status_code)  # fmt: skip


@router.get("/portal/compliance", include_in_schema=False)
async def compliance(page: Operator) -> Response:
    """Last records, duties and their due dates, open status requests; the forms to record and answer."""
    return await _compliance(page)


def _record_body(form: FormPage, which: str) -> dict[str, Any]:
    """The API body of one compliance form (numbers and lists as the API takes them)."""
    if which == "risk-assessments":
        return {n: form.field(n) for n in ("date", "scope", "method", "findings_summary", "remediation_status")}
    if which == "trainings":
        count = form.field("participants")
        return {"date": form.field("date"), "kind": form.field("kind"), "participants": int(count) if count.isdigit() else count}
    if which == "leakage-controls":
        controls = [line.strip() for line in form.field("controls").splitlines() if line.strip()]
        return {"date": form.field("date"), "controls": controls, "attested_by": form.field("attested_by")}
    return {"request_id": form.field("request_id"), "summary": form.field("summary")}


RECORDS = {"risk-assessments": "portal.recorded", "trainings": "portal.recorded", "leakage-controls": "portal.recorded",
           "status-reports": "portal.answered"}  # fmt: skip


@router.post("/portal/compliance/{which}", include_in_schema=False)
async def compliance_record(which: str, form: OperatorForm) -> Response:
    """Record an assessment, a training or drill, leakage controls, or answer a status request."""
    if which not in RECORDS:
        return await _compliance(form, status_code=404)
    try:
        await form.api.post("connection", operator_path(form, f"/{which}"), json=_record_body(form, which),
                            headers={"Idempotency-Key": key_of(form)})  # fmt: skip
    except ApiError as exc:
        values = {name: form.field(name) for name in form.form.keys() if name not in ("csrf", "key")} if form.form else {}
        return await _compliance(form, status_code=status_of(exc), which=which, values=values, error=problem(form, exc))
    return form.redirect("/portal/compliance", notice=RECORDS[which])


def bulk_cap(page: Page) -> int:
    """The largest CSV the portal takes: the connection service's bulk bound (``SMGUARD_MAX_BULK_BODY_BYTES``)."""
    return page.request.app.state.options.max_bulk_body_bytes


def size_text(size: int) -> str:
    """A byte count for people (MiB or KiB)."""
    return f"{size / 1048576:g} MiB" if size >= 1048576 else f"{size / 1024:g} KiB"


def _bulk(page: Page, *, status_code: int = 200, result: dict[str, Any] | None = None, error: dict[str, str] | None = None) -> Response:
    return page.render("portal/bulk.html", section="bulk", result=result, error=error, key=new_key(), columns=BULK_COLUMNS,
                       size=size_text(bulk_cap(page)), status_code=status_code)  # fmt: skip


@router.get("/portal/bulk", include_in_schema=False)
async def bulk(page: Operator) -> Response:
    """The upload form for a bulk registration."""
    return _bulk(page)


@router.post("/portal/bulk", include_in_schema=False)
async def bulk_upload(form: OperatorForm) -> Response:
    """The file's bytes to ``POST /connections/bulk`` as CSV (one idempotency key per form); each row's outcome."""
    upload = form.form.get("file") if form.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _bulk(form, status_code=422, error={"title": form.t("portal.no_file"), "detail": ""})
    cap = bulk_cap(form)
    content = await upload.read(cap + 1)
    if len(content) > cap:
        return _bulk(form, status_code=413, error={"title": form.t("portal.too_large", size=size_text(cap)), "detail": ""})
    try:
        result = await form.api.post("connection", "/connections/bulk", content=content,
                                     headers={"Content-Type": "text/csv; charset=utf-8", "Idempotency-Key": key_of(form)})  # fmt: skip
    except ApiError as exc:
        return _bulk(form, status_code=status_of(exc), error=problem(form, exc))
    return _bulk(form, result=result)
