"""Declaring a serious vulnerability (the SOC): the form, a confirmation that says how many connections of
how many operators it would block, then the declaration and the new incident's page.

The count is the connection service's (``GET /connections/matching``): the same rule its owners block
with when the declaration arrives, read with the user's token. Nothing is sent to the incident service
before the SOC confirms; the confirmation page carries the input in hidden fields, so "edit" brings
the form back as it was.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.console.api import ApiError
from services.console.i18n import register
from services.console.web import FormPage, Page, form_for, page_for
from shared.domain import DomainError
from shared.events.values import OPERATOR_ASSET_KINDS, UTILITY_ASSET_KINDS
from shared.firmware import Firmware

router = APIRouter()

SEVERITIES = ("critical", "high", "medium", "low")
TLPS = ("AMBER", "AMBER+STRICT", "RED", "GREEN", "CLEAR")
OPERATOR_KINDS = ("special_meter", "wireless_terminal", "iot_route", "external_server")
UTILITY_KINDS = ("smart_meter", "sm_network", "hes", "mdms", "wheeling_system", "public_server")
FIELDS = ("title", "severity", "asset_kind", "maker", "model", "firmware", "smart_meter_ids", "description", "tlp")
MAX_METERS = 10_000
"""Smart meters one declaration names (the incident service's bound)."""
PREVIEW_METERS = 500
"""Smart meters the preview can count (the connection service's bound for a query string)."""
SHOWN_OPERATORS = 100
LIMITS = {"title": 500, "maker": 200, "model": 200, "firmware": 200, "description": 20000}

Soc = Annotated[Page, Depends(page_for("utility_soc"))]
SocForm = Annotated[FormPage, Depends(form_for("utility_soc"))]


def meters_of(text: str) -> list[str]:
    """Smart meter ids typed one per line (or separated by commas or spaces), each once, in order."""
    return list(dict.fromkeys(m for m in re.split(r"[\s,、]+", text) if m))


def values_of(form: FormPage) -> dict[str, str]:
    return {name: form.field(name) for name in FIELDS}


def problems(values: dict[str, str], t: Any) -> list[str]:
    """What is wrong with the input, in the user's words (empty: it can be previewed)."""
    found = []
    if not values["title"]:
        found.append(t("vulnerabilities.need_title"))
    if values["severity"] not in SEVERITIES:
        found.append(t("vulnerabilities.need_severity"))
    if values["asset_kind"] not in OPERATOR_ASSET_KINDS | UTILITY_ASSET_KINDS:
        found.append(t("vulnerabilities.need_kind"))
    if values["tlp"] not in TLPS:
        found.append(t("vulnerabilities.need_tlp"))
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            found.append(t("vulnerabilities.too_long", field=t(f"vulnerabilities.{name}"), n=limit))
    try:
        Firmware(values["firmware"] or None)
    except DomainError as exc:
        found.append(t("vulnerabilities.bad_firmware", detail=exc.message))
    meters = meters_of(values["smart_meter_ids"])
    if len(meters) > MAX_METERS:
        found.append(t("vulnerabilities.too_many_meters", n=MAX_METERS))
    if any(len(m) > 64 for m in meters):
        found.append(t("vulnerabilities.meter_too_long"))
    return found


def body_of(values: dict[str, str]) -> dict[str, Any]:
    """The body of ``POST /vulnerabilities`` (empty criteria left out: they match anything)."""
    body: dict[str, Any] = {
        "title": values["title"], "severity": values["severity"], "asset_kind": values["asset_kind"],
        "smart_meter_ids": meters_of(values["smart_meter_ids"]), "description": values["description"], "tlp": values["tlp"],
    }  # fmt: skip
    body.update({name: values[name] for name in ("maker", "model", "firmware") if values[name]})
    return body


def _form(current: Page, values: dict[str, str], *, errors: list[str] | None = None, detail: str = "", status: int = 200) -> Response:
    return current.render(
        "vulnerabilities/new.html", status_code=status, values=values, errors=errors or [], detail=detail,
        severities=SEVERITIES, tlps=TLPS, operator_kinds=OPERATOR_KINDS, utility_kinds=UTILITY_KINDS,
    )  # fmt: skip


def _refusal(current: Page, exc: ApiError) -> str:
    key = f"error.{exc.status}"
    title = current.t(key)
    return title if title != key else current.t("error.other")


@router.get("/vulnerabilities/new", include_in_schema=False)
async def new_vulnerability(current: Soc) -> Response:
    """The declaration form."""
    return _form(current, {name: "" for name in FIELDS} | {"severity": "critical", "asset_kind": "special_meter", "tlp": "AMBER"})


@router.post("/vulnerabilities/new", include_in_schema=False)
async def declare_vulnerability(current: SocForm) -> Response:
    """Preview (how many connections of how many operators), edit, or — once confirmed — declare."""
    values = values_of(current)
    if current.field("edit"):
        return _form(current, values)
    found = problems(values, current.t)
    if found:
        return _form(current, values, errors=found, status=422)
    if current.field("confirmed") != "yes":
        return await _preview(current, values)
    try:
        declared = await current.api.post("incident", "/vulnerabilities", json=body_of(values))
    except ApiError as exc:
        if exc.status == 0 or exc.status >= 500:
            raise
        return _form(current, values, errors=[_refusal(current, exc)], detail=exc.detail, status=exc.status)
    return current.redirect(f"/incidents/{declared['incident_id']}", notice="vulnerabilities.declared")


async def _preview(current: FormPage, values: dict[str, str]) -> Response:
    meters = meters_of(values["smart_meter_ids"])
    reach, unavailable = None, ""
    if len(meters) > PREVIEW_METERS:
        unavailable = current.t("vulnerabilities.preview_too_many_meters", n=PREVIEW_METERS)
    else:
        params: dict[str, Any] = {"asset_kind": values["asset_kind"], "maker": values["maker"], "model": values["model"],
                                  "firmware": values["firmware"], "smart_meter_ids": meters}  # fmt: skip
        try:
            reach = await current.api.get("connection", "/connections/matching", params=params)
        except ApiError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                return _form(current, values, errors=[_refusal(current, exc)], detail=exc.detail, status=exc.status)
            unavailable = f"{_refusal(current, exc) if exc.status else current.t('error.unreachable', service=exc.service)}: {exc.detail}"
    utility_side = values["asset_kind"] in UTILITY_ASSET_KINDS
    return current.render(
        "vulnerabilities/confirm.html", values=values, reach=reach, unavailable=unavailable, meters=meters,
        utility_side=utility_side, shown_operators=SHOWN_OPERATORS, fields=FIELDS,
    )  # fmt: skip


register({
    "vulnerabilities.title_page": ("重大な脆弱性の宣言", "Declare a serious vulnerability"),
    "vulnerabilities.lead": ("宣言すると脆弱性インシデントが起票され、条件に合う接続が遮断ポリシーに従って遮断(または遮断の推奨)されます。宣言の前に、影響する接続数を確認する画面が出ます。",
                             "Declaring opens a vulnerability incident, and the matching connections are blocked (or recommended for blocking) as the block policy says. A confirmation showing how many connections it concerns comes first."),
    "vulnerabilities.title": ("件名", "Title"),
    "vulnerabilities.severity": ("重大度", "Severity"),
    "vulnerabilities.asset_kind": ("対象の機器種別", "Asset kind"),
    "vulnerabilities.operator_side": ("事業者側の機器(メーカー・型式・ファームウェアで照合)", "Operator equipment (matched by maker, model, firmware)"),
    "vulnerabilities.utility_side": ("電力会社側の資産(スマートメーターIDで照合)", "Utility assets (matched by smart meter ids)"),
    "vulnerabilities.maker": ("メーカー", "Maker"),
    "vulnerabilities.model": ("型式", "Model"),
    "vulnerabilities.firmware": ("ファームウェア", "Firmware"),
    "vulnerabilities.firmware_help": ("1つの版(例: 2.1.0)か範囲(例: >=2.1,<2.3 — カンマは「かつ」)。空欄はすべての版。",
                                      "One version (e.g. 2.1.0) or a range (e.g. >=2.1,<2.3 — a comma means 'and'). Empty: every version."),
    "vulnerabilities.criteria_help": ("メーカー・型式は大文字小文字を区別せずに照合します。空欄はすべてに一致します。",
                                      "Maker and model match regardless of case; an empty one matches any."),
    "vulnerabilities.smart_meter_ids": ("スマートメーターID(任意・1行に1つ)", "Smart meter ids (optional, one per line)"),
    "vulnerabilities.meters_help": ("電力会社側の資産(スマートメーター等)の脆弱性では、ここに挙げたメーターにつながる接続が対象です。",
                                    "For a utility-side asset (e.g. a smart meter model), the connections attached to these meters are concerned."),
    "vulnerabilities.description": ("説明", "Description"),
    "vulnerabilities.tlp": ("TLP(共有範囲)", "TLP (sharing)"),
    "vulnerabilities.preview": ("影響を確認する", "Check what it concerns"),
    "vulnerabilities.confirm_title": ("宣言の確認", "Confirm the declaration"),
    "vulnerabilities.reach": ("この脆弱性は {operators} 事業者の {connections} 接続に該当します。", "This vulnerability concerns {connections} connections of {operators} operators."),
    "vulnerabilities.policy.auto": ("遮断ポリシー(重大な脆弱性): 自動 — 宣言すると、これらの接続はすぐに遮断されます。",
                                    "Block policy (serious vulnerability): auto — declaring blocks these connections at once."),
    "vulnerabilities.policy.recommend": ("遮断ポリシー(重大な脆弱性): 推奨 — 宣言すると、これらの接続に遮断の推奨が作成され、SOCが確定します。",
                                         "Block policy (serious vulnerability): recommend — declaring raises a block recommendation for each, for the SOC to confirm."),
    "vulnerabilities.policy.off": ("遮断ポリシー(重大な脆弱性): 無効 — 宣言しても接続は遮断されません。",
                                   "Block policy (serious vulnerability): off — declaring blocks nothing."),
    "vulnerabilities.incomplete": ("該当候補が多すぎるため、件数は下限です。", "There were too many candidates to read them all: the counts are a lower bound."),
    "vulnerabilities.none_match": ("今のところ該当する接続はありません。宣言するとインシデントは起票され、遮断は起きません。",
                                   "No connection matches now. Declaring opens the incident and blocks nothing."),
    "vulnerabilities.utility_without_meters": ("電力会社側の資産でスマートメーターIDがないため、遮断される接続はありません。",
                                               "A utility-side asset with no smart meter ids: no connection can be matched."),
    "vulnerabilities.by_operator": ("事業者ごとの該当接続数", "Connections per operator"),
    "vulnerabilities.col.operator": ("事業者", "Operator"),
    "vulnerabilities.col.connections": ("接続数", "Connections"),
    "vulnerabilities.more_operators": ("ほか {n} 事業者", "and {n} more operators"),
    "vulnerabilities.preview_unavailable": ("影響件数を確認できませんでした: {detail}", "The count could not be checked: {detail}"),
    "vulnerabilities.preview_too_many_meters": ("メーターIDが {n} 件を超えるため、件数は事前に確認できません。", "More than {n} meter ids: the count cannot be previewed."),
    "vulnerabilities.declare": ("宣言する", "Declare"),
    "vulnerabilities.edit": ("入力を修正する", "Edit the input"),
    "vulnerabilities.declared": ("脆弱性を宣言しました。該当する接続は遮断ポリシーに従って処理されます。", "The vulnerability was declared; matching connections follow the block policy."),
    "vulnerabilities.need_title": ("件名を入力してください。", "Enter a title."),
    "vulnerabilities.need_severity": ("重大度を選んでください。", "Choose a severity."),
    "vulnerabilities.need_kind": ("機器種別を選んでください。", "Choose an asset kind."),
    "vulnerabilities.need_tlp": ("TLPを選んでください。", "Choose a TLP."),
    "vulnerabilities.too_long": ("{field}は {n} 文字以内にしてください。", "{field} takes at most {n} characters."),
    "vulnerabilities.bad_firmware": ("ファームウェアの指定を読み取れません: {detail}", "The firmware cannot be read: {detail}"),
    "vulnerabilities.too_many_meters": ("スマートメーターIDは {n} 件までです。", "At most {n} smart meter ids."),
    "vulnerabilities.meter_too_long": ("スマートメーターIDは64文字以内です。", "A smart meter id takes at most 64 characters."),
    "vulnerabilities.errors": ("入力を確認してください", "Please check the input"),
    "vulnerabilities.any": ("(すべて)", "(any)"),
    "vulnerabilities.meters_count": ("{n} 件", "{n}"),
    "vulnerabilities.sev.critical": ("緊急", "critical"),
    "vulnerabilities.sev.high": ("高", "high"),
    "vulnerabilities.sev.medium": ("中", "medium"),
    "vulnerabilities.sev.low": ("低", "low"),
    "vulnerabilities.kind.special_meter": ("特例計量器", "special meter"),
    "vulnerabilities.kind.wireless_terminal": ("無線端末", "wireless terminal"),
    "vulnerabilities.kind.iot_route": ("IoTルート", "IoT route"),
    "vulnerabilities.kind.external_server": ("外部サーバ", "external server"),
    "vulnerabilities.kind.smart_meter": ("電力スマートメーター", "smart meter"),
    "vulnerabilities.kind.sm_network": ("SM通信NW", "SM communication network"),
    "vulnerabilities.kind.hes": ("HES(ヘッドエンドシステム)", "head-end system (HES)"),
    "vulnerabilities.kind.mdms": ("MDMS", "MDMS"),
    "vulnerabilities.kind.wheeling_system": ("託送業務システム", "wheeling system"),
    "vulnerabilities.kind.public_server": ("公開サーバ", "public server"),
})
