"""The dossier as a readable Markdown document: headings in Japanese and English, times in JST."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared.clock import JST

STATUS = {"open": "対応中 / open", "cleared": "解消 / cleared"}
INITIAL_FIELDS = (("event", "発生事象 / Event"), ("location", "発生場所 / Location"))
CAUSE_FIELDS = (
    ("cause", "発生原因 / Cause"),
    ("countermeasure", "対策方法 / Countermeasure"),
    ("countermeasure_plan", "対策計画 / Countermeasure plan"),
    ("recurrence_prevention", "再発防止策 / Recurrence prevention"),
)


def jst(value: str | None) -> str:
    """A stored UTC time shown in Japan time with the zone written."""
    if not value:
        return "—"
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST (UTC+09:00)")


def render(dossier: dict[str, Any]) -> str:
    """The whole document."""
    s, entries = dossier["summary"], dossier["entries"]
    lines = [
        f"# インシデント記録 / Incident dossier: {_cell(s.get('title') or s['incident_id'])}",
        "",
        f"- インシデントID / Incident ID: `{s['incident_id']}`",
        f"- 区分 / Category: {s.get('category') or '—'}　重大度 / Severity: {s.get('severity') or '—'}",
        f"- 状態 / Status: {STATUS.get(s['status'], s['status'])}",
        f"- 発生 / Opened: {jst(s.get('opened_at'))}　解消 / Cleared: {jst(s.get('cleared_at'))}",
        f"- 利用事業者 / Operators: {', '.join(s.get('operator_ids') or []) or '—'}",
        f"- 作成 / Generated: {jst(dossier['generated_at'])}",
        "",
        *_reports(entries),
        *_notes(entries),
        *_table("遮断と再接続 / Block and reconnection", [e for e in entries if e["topic"].endswith("connection.events")]),
        *_table("通知 / Notifications", [e for e in entries if e["topic"].endswith("notification.events")]),
        *_table("時系列 / Timeline", entries),
    ]
    return "\n".join(lines) + "\n"


def _reports(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["## 報告 / Reports", ""]
    filed = [e for e in entries if e["type"] == "ReportFiled"]
    if not filed:
        return [*lines, "（報告なし / no report filed）", ""]
    for entry in filed:
        data = entry["data"]
        if data["part"] == "initial":
            lines += _initial(data, entry)
        else:
            lines += _cause(data, entry)
    return lines


def _notes(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["## メモ / Notes", ""]
    notes = [e for e in entries if e["type"] == "IncidentNoteAttached"]
    if not notes:
        return [*lines, "（メモなし / no note）", ""]
    for entry in notes:
        data = entry["data"]
        party = {"utility": "一般送配電事業者 / utility", "operator": "利用事業者 / operator"}.get(data.get("attached_by"), "")
        author = (data.get("author") or {}).get("id") or entry.get("actor") or "—"
        lines += [f"- {jst(entry.get('time'))} — {party} ({_cell(author)})", *[f"  > {line}" for line in str(data.get("text", "")).splitlines() or [""]]]
    return [*lines, ""]


def _heading(title: str, data: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    who = {"utility": "一般送配電事業者 / utility", "operator": "利用事業者 / operator"}.get(data.get("filed_by"), "")
    return [f"### {title} — 第{data['revision']}版 / revision {data['revision']}", "",
            f"- 報告者 / Filed by: {who}　日時 / Time: {jst(entry.get('time'))}"]


def _initial(data: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    report = data.get("initial") or {}
    lines = _heading("発生事象・対処計画 / Initial report (event and response plan)", data, entry)
    lines += [f"- {label}: {report.get(key, '')}" for key, label in INITIAL_FIELDS]
    lines.append("- 各機器およびシステムへの影響 / Impact on each device and system:")
    lines += [f"  - {i.get('target')}: {i.get('impact')}" for i in report.get("impacts", [])]
    lines += [f"- 今後の対応計画 / Response plan: {report.get('response_plan', '')}", ""]
    return lines


def _cause(data: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    report = data.get("cause") or {}
    lines = _heading("要因・対処方法 / Cause report (cause and countermeasures)", data, entry)
    return [*lines, *[f"- {label}: {report.get(key, '')}" for key, label in CAUSE_FIELDS], ""]


def _table(title: str, entries: list[dict[str, Any]]) -> list[str]:
    lines = [f"## {title}", ""]
    if not entries:
        return [*lines, "（記録なし / none）", ""]
    lines += ["| 時刻 (JST) / Time (JST) | 事象 / Event | 対象 / Subject | 主体 / Actor | 記録 / Entry |", "|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {jst(e.get('time'))} | {e['type']} | {_cell(e['subject'])} | {_cell(e.get('actor') or '—')} | `{e['entry']}` |")
    return [*lines, ""]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
