"""The agreement's story, step by step: each step acts over HTTP, waits for the outcome, narrates it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from shared.demo.client import DemoError, Smguard

Narrate = Callable[[str, str, list[str]], None]
SECRETS = {"auth_id": "AUTH-{n}-7f3a", "password": "Pw-{n}-s3cr3t-ぱすわーど", "pairing_id": "PAIR-{n}-91c2"}


@dataclass
class Facts:
    """What the story created and saw, for whoever checks it afterwards."""

    run: str
    operators: list[str] = field(default_factory=list)
    connections: dict[str, list[str]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    incident: str = ""
    vulnerability: str = ""
    seen: dict[str, Any] = field(default_factory=dict)


class Story:
    """Plays the story against running services; every step raises DemoError if the system disagrees."""

    def __init__(self, api: Smguard, narrate: Narrate) -> None:
        self.api, self.say = api, narrate
        self.facts = Facts(run=uuid.uuid4().hex[:6])

    def steps(self) -> list[Callable[[], None]]:
        """The story in order."""
        return [self.onboard, self.contacts, self.meters, self.anomaly, self.block_is_enforced,
                self.operator_is_told, self.reports, self.clear, self.approvals, self.vulnerability,
                self.contact_change, self.status_request, self.audit]

    def play(self) -> Facts:
        """Every step in order."""
        for step in self.steps():
            step()
        return self.facts

    def onboard(self) -> None:
        """Two operators sign the agreement and are onboarded by the utility."""
        names = {"a": "中部スマートエネルギー株式会社", "b": "東海IoTサービス合同会社"}
        for key, name in names.items():
            operator = f"op-{key}-{self.facts.run}"
            self.api.call("POST", "connection", "/operators", as_="utility_soc",
                          json={"operator_id": operator, "name": name, "agreement_date": "2026-04-01"})
            self.facts.operators.append(operator)
        self.say("事業者の登録", "Two operators onboard", [f"{o}" for o in self.facts.operators])

    def contacts(self) -> None:
        """Each operator registers its applicant and security-incident contacts (part 1)."""
        for n, operator in enumerate(self.facts.operators):
            for kind, person in (("applicant", "申込 太郎"), ("security_incident", "保安 花子")):
                body = {"name": person, "organisation": f"{operator} セキュリティ室", "phone": f"052-000-{n}{len(kind)}",
                        "email": f"{kind.replace('_', '-')}@{operator}.example"}
                self.api.call("PUT", "notification", f"/operators/{operator}/contacts/{kind}",
                              as_="operator", operator=operator, json=body)
        self.say("連絡体制の構築", "Contacts registered (applicant, security incident)",
                 [f"{o}: applicant + security_incident" for o in self.facts.operators])

    def meters(self) -> None:
        """Each operator registers special meters; the secrets are write-only."""
        lines = []
        for index, operator in enumerate(self.facts.operators):
            self.facts.connections[operator] = []
            for n, firmware in enumerate(("2.1.0", "2.4.0")):
                secrets = {k: v.format(n=f"{index}{n}{self.facts.run}") for k, v in SECRETS.items()}
                self.facts.secrets += [secrets["auth_id"], secrets["password"], secrets["pairing_id"]]
                body = {"kind": "special_meter", "maker": "Chubu Metering", "model": "SPM-100", "firmware": firmware,
                        "smart_meter_ids": [f"SM-{operator}-{n}"], "secrets": secrets}
                created = self.api.call("POST", "connection", "/connections", as_="operator", operator=operator, json=body)
                self.facts.connections[operator].append(created["id"])
                shown = self.api.call("GET", "connection", f"/connections/{created['id']}", as_="operator", operator=operator)
                lines.append(f"{created['id']} ({operator}, SPM-100 {firmware}) secrets shown as {shown['secrets']}")
        self.say("特例計量器の登録", "Special meters registered; secrets write-only", lines)

    @property
    def target(self) -> tuple[str, str]:
        """The first operator's first meter: the one the sensor sees attacking."""
        operator = self.facts.operators[0]
        return operator, self.facts.connections[operator][0]

    def anomaly(self) -> None:
        """A sensor reports unauthorized access from a special meter to a smart meter."""
        _, connection = self.target
        body = {"signal_id": f"ids-{self.facts.run}-1", "connection_id": connection, "type": "unauthorized_access",
                "severity": "high", "observed_at": datetime.now(timezone.utc).isoformat(),
                "evidence": {"rule": "HES-ANOM-07", "detail": "認証失敗の連続 (repeated authentication failures)"}}
        # Until the incident service has read the registration, it refuses the meter as unknown (422).
        answer = self.api.until("the incident service knows the new meter", lambda: self._report(body))
        self.facts.incident = answer["incident_id"]
        again = self.api.call("POST", "incident", "/anomalies", as_="sensor", json=body, expect=202)
        self.facts.seen["duplicate"] = again
        self.say("不正アクセスの検知", "A sensor's anomaly opens an incident",
                 [f"incident {answer['incident_id']} (attached={answer['attached']})",
                  f"the same signal again is recognised: duplicate={again['duplicate']}"])

    def _report(self, body: dict[str, Any]) -> dict[str, Any] | None:
        answer = self.api.call("POST", "incident", "/anomalies", as_="sensor", json=body, expect=(202, 422))
        return answer if isinstance(answer, dict) and "incident_id" in answer else None

    def block_is_enforced(self) -> None:
        """The block policy (auto) blocks the meter at once; the HES acknowledges the block."""
        operator, connection = self.target
        seen = self.api.until("the meter blocked and the block enforced", lambda: self._enforced(connection, "block"))
        hold = seen["blocking_incidents"][0]
        self.facts.seen["blocked"] = seen
        self.say("遮断", "Auto-block by the utility's policy, enforced on the network",
                 [f"{connection}: status {seen['status']}, decided by {hold['decided_by']}",
                  f"enforcement: {seen['enforcement']} (request {hold['request_id']})"])

    def _enforced(self, connection: str, action: str) -> dict[str, Any] | None:
        view = self.api.call("GET", "connection", f"/connections/{connection}", as_="utility_soc")
        done = [r for r in view["enforcement_requests"] if r["action"] == action and r["state"] == "enforced"]
        return view if done else None

    def operator_is_told(self) -> None:
        """The operator's security-incident contact is told of the block, and acknowledges."""
        operator, connection = self.target

        def told() -> dict[str, Any] | None:
            page = self.api.call("GET", "notification", "/notifications", as_="operator", operator=operator)
            return next((n for n in page["items"] if n["domain_event"]["type"] == "ConnectionBlocked"
                         and n["status"] in ("delivered", "acknowledged")), None)

        notice = self.api.until("the block notification delivered to the operator", told)
        self.api.call("POST", "notification", f"/notifications/{notice['id']}/ack", as_="operator", operator=operator)
        self.facts.seen["notice"] = notice
        self.say("事業者への連絡", "The operator's security-incident contact is notified",
                 [f"to {notice['recipient']['kind']} <{notice['recipient'].get('email')}> via {notice['channel']}",
                  f"subject: {notice.get('subject') or notice['title']}", "acknowledged by the operator"])

    def reports(self) -> None:
        """The operator files both parts of its report (operator → utility)."""
        operator, connection = self.target
        path = f"/incidents/{self.facts.incident}/reports"
        initial = {"event": "特例計量器からスマートメーターへの不正アクセス", "location": f"{connection} (名古屋市)",
                   "impacts": [{"target": "スマートメーター SM", "impact": "認証試行の増加、計量への影響なし"},
                               {"target": "HES", "impact": "影響なし / none"}],
                   "response_plan": "該当端末を回収し、ファームウェアを調査する"}
        cause = {"cause": "出荷時の既定パスワードが変更されていなかった", "countermeasure": "認証情報の更新",
                 "countermeasure_plan": "全端末の認証情報を2週間以内に更新", "recurrence_prevention": "出荷手順に初期化を追加"}
        first = self.api.call("POST", "incident", f"{path}/initial", as_="operator", operator=operator, json=initial)
        second = self.api.call("POST", "incident", f"{path}/cause", as_="operator", operator=operator, json=cause)
        self.say("通報 (発生事象・対処計画 / 要因・対処方法)", "Both report parts filed, operator → utility",
                 [f"initial report revision {first['revision']}", f"cause report revision {second['revision']}"])

    def clear(self) -> None:
        """The incident is resolved (解消): its block can move on to approval."""
        self.api.call("POST", "incident", f"/incidents/{self.facts.incident}/clear", as_="utility_soc",
                      json={"summary": "認証情報を更新し、異常通信の停止を確認 / credentials rotated, traffic normal"})
        operator, connection = self.target
        self.api.call("POST", "connection", f"/connections/{connection}/secrets", as_="operator", operator=operator,
                      json={k: v.format(n=f"rotated{self.facts.run}") for k, v in SECRETS.items()})
        view = self.api.until("the block released", lambda: self._status(connection, "awaiting_approval"))
        self.say("解消", "Incident cleared; the meter awaits both approvals", [f"{connection}: {view['status']}"])

    def _status(self, connection: str, status: str) -> dict[str, Any] | None:
        view = self.api.call("GET", "connection", f"/connections/{connection}", as_="utility_soc")
        return view if view["status"] == status else None

    def approvals(self) -> None:
        """Both parties judge there is no problem: the meter is reconnected (part 2)."""
        operator, connection = self.target
        self.api.call("POST", "connection", f"/connections/{connection}/approvals", as_="operator", operator=operator,
                      json={"note": "事業者として問題なしと判断"})
        half = self.api.call("GET", "connection", f"/connections/{connection}", as_="utility_soc")
        self.api.call("POST", "connection", f"/connections/{connection}/approvals", as_="utility_soc",
                      json={"note": "当社として問題なしと判断"})
        view = self.api.until("reconnection enforced", lambda: self._enforced(connection, "reconnect"))
        self.facts.seen["after_one_approval"] = half["status"]
        self.say("再接続", "Two approvals → reconnected and enforced",
                 [f"after the operator's approval: {half['status']}", f"after the utility's: {view['status']}"])

    def vulnerability(self) -> None:
        """A serious vulnerability in SPM-100 firmware < 2.3 blocks every matching meter, fleet-wide."""
        body = {"title": "SPM-100 認証バイパスの脆弱性", "severity": "critical", "asset_kind": "special_meter",
                "maker": "Chubu Metering", "model": "SPM-100", "firmware": ">=2.0,<2.3",
                "description": "重大な脆弱性 / serious vulnerability"}
        self.facts.vulnerability = self.api.call("POST", "incident", "/vulnerabilities", as_="utility_soc", json=body)["incident_id"]
        matching = [ids[0] for ids in self.facts.connections.values()]  # firmware 2.1.0
        for connection in matching:
            self.api.until(f"{connection} blocked for the vulnerability", lambda c=connection: self._status(c, "blocked"))
        spared = [ids[1] for ids in self.facts.connections.values()]
        states = {c: self.api.call("GET", "connection", f"/connections/{c}", as_="utility_soc")["status"] for c in spared}
        self.facts.seen["spared"] = states
        self.say("重大な脆弱性", "A vulnerability blocks the matching model fleet-wide",
                 [f"blocked: {', '.join(matching)}", f"not matching (firmware 2.4.0): {states}"])

    def contact_change(self) -> None:
        """An operator changes its security-incident contact; the utility desk is told at once."""
        operator = self.facts.operators[1]
        body = {"name": "新任 次郎", "organisation": "東海IoT 情報セキュリティ部", "phone": "052-111-2222",
                "email": f"csirt@{operator}.example"}
        self.api.call("PUT", "notification", f"/operators/{operator}/contacts/security_incident", as_="operator",
                      operator=operator, json=body)

        def desk_told() -> dict[str, Any] | None:
            page = self.api.call("GET", "notification", "/notifications", as_="utility_desk", params={"operator_id": operator})
            return next((n for n in page["items"] if n["domain_event"]["type"] == "ContactChanged"), None)

        notice = self.api.until("the desk told of the contact change", desk_told)
        self.say("連絡先の変更", "Contact change notified to the utility desk at once",
                 [f"{operator}: security_incident → {body['email']}", f"desk notice: {notice['status']}"])

    def status_request(self) -> None:
        """The utility asks an operator to show how it is doing (part 5); the operator answers."""
        operator = self.facts.operators[0]
        asked = self.api.call("POST", "connection", f"/operators/{operator}/status-requests", as_="utility_soc",
                              json={"subject": "年次リスクアセスメントと訓練の実施状況", "reply_by": "2027-01-31"})
        request_id = asked.get("request_id") or asked.get("id")
        self.api.call("POST", "connection", f"/operators/{operator}/status-reports", as_="operator", operator=operator,
                      json={"request_id": request_id, "summary": "2026年度のアセスメントと訓練は実施済み"})
        status = self.api.call("GET", "connection", f"/operators/{operator}/compliance", as_="utility_soc")
        self.say("運用状況の提示", "Status requested and answered",
                 [f"request {request_id}", f"open requests now: {len(status.get('open_requests', []))}"])

    def audit(self) -> None:
        """An auditor verifies the log and reads the incident's dossier."""
        def verified() -> dict[str, Any] | None:
            result = self.api.call("GET", "audit", "/audit/verify", as_="auditor")
            return result if result["ok"] and result["size"] > 0 else None

        result = self.api.until("the audit log verified", verified)
        dossier = self.api.call("GET", "audit", f"/audit/dossiers/{self.facts.incident}", as_="auditor",
                                params={"format": "md"})
        if self.facts.incident not in dossier:
            raise DemoError("the dossier does not name its incident")
        self.facts.seen["dossier"] = dossier
        head = [line for line in dossier.splitlines() if line.strip()][:12]
        self.say("監査", "Audit log verified; the incident's dossier",
                 [f"ok={result['ok']} size={result['size']} root={result['root'][:16]}…", *head])
