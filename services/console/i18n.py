"""Words of the console in Japanese (first) and English, and times in JST.

Each page module registers its own messages (``register``); a test checks that every message has
both languages and that every key a template uses exists. ``t`` falls back to the key itself, so a
missing message shows as its key rather than breaking the page.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
LANGS = ("ja", "en")
MESSAGES: dict[str, dict[str, str]] = {}


def register(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add messages: key → (Japanese, English). A key registered twice must say the same."""
    for key, (ja, en) in messages.items():
        entry = {"ja": ja, "en": en}
        if key in MESSAGES and MESSAGES[key] != entry:
            raise ValueError(f"message {key!r} registered twice with different words")
        MESSAGES[key] = entry


def t(key: str, lang: str, **values: object) -> str:
    """The message in ``lang`` (``str.format`` with ``values``); the key when there is none."""
    entry = MESSAGES.get(key)
    text = entry.get(lang) or entry["ja"] if entry else key
    return text.format(**values) if values else text


def jst(value: object, *, seconds: bool = False) -> str:
    """A time as JST (``2026-12-07 14:05 JST``); a date as is; '' for nothing; text that is not a time as is."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST" if seconds else "%Y-%m-%d %H:%M JST")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def age(value: object, now: datetime | None = None, lang: str = "ja") -> str:
    """How long ago a time was, in words (``3時間`` / ``3 h``)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - value).total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if lang == "ja":
        return f"{days}日{hours}時間" if days else f"{hours}時間{minutes}分" if hours else f"{minutes}分"
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min"


register({
    "app.title": ("smguard コンソール", "smguard console"),
    "app.skip": ("本文へ移動", "Skip to content"),
    "lang.switch": ("English", "日本語"),
    "nav.dashboard": ("SOCダッシュボード", "SOC dashboard"),
    "nav.incidents": ("インシデント", "Incidents"),
    "nav.connections": ("接続", "Connections"),
    "nav.portal": ("事業者ポータル", "Operator portal"),
    "nav.operators": ("事業者", "Operators"),
    "nav.vulnerabilities": ("脆弱性の宣言", "Declare a vulnerability"),
    "nav.audit": ("監査", "Audit"),
    "nav.signout": ("サインアウト", "Sign out"),
    "signin.title": ("サインイン", "Sign in"),
    "signin.dev": ("開発用サインイン(ループバックのみ)", "Development sign-in (loopback only)"),
    "signin.dev_help": ("役割と事業者を選ぶと、開発用の鍵でトークンを発行します。本番では SMGUARD_OIDC_ISSUER を設定し、IDプロバイダでサインインします。",
                        "Pick a role (and an operator) and a token is minted with the development key. In production, set SMGUARD_OIDC_ISSUER and sign in at the identity provider."),
    "signin.role": ("役割", "Role"),
    "signin.operator_id": ("事業者ID(事業者の役割のとき)", "Operator id (for the operator role)"),
    "signin.submit": ("サインイン", "Sign in"),
    "signin.oidc": ("IDプロバイダでサインイン", "Sign in with the identity provider"),
    "signin.failed": ("サインインできませんでした: {reason}", "Sign-in failed: {reason}"),
    "signin.need_operator": ("事業者の役割には事業者IDが必要です。", "The operator role needs an operator id."),
    "signin.not_console_role": ("センサーの役割はコンソールを使えません。", "The sensor role has no console."),
    "signin.loopback_only": ("開発用サインインはループバックからのみ使えます。", "Development sign-in is for loopback only."),
    "signin.expired": ("サインインの手続きが期限切れです。もう一度お試しください。", "The sign-in expired; try again."),
    "role.utility_soc": ("電力会社SOC", "Utility SOC"),
    "role.utility_desk": ("電力会社窓口", "Utility desk"),
    "role.operator": ("事業者", "Operator"),
    "role.auditor": ("監査人", "Auditor"),
    "role.sensor": ("センサー", "Sensor"),
    "signed_in_as": ("{sub}({role})でサインイン中", "Signed in as {sub} ({role})"),
    "error.title": ("エラー", "Error"),
    "error.400": ("リクエストが正しくありません", "The request is not right"),
    "error.401": ("サインインが必要です(セッションが切れた可能性があります)", "Sign-in needed (the session may have expired)"),
    "error.403": ("この操作をする権限がありません", "You may not do this"),
    "error.404": ("見つかりません(存在しないか、見る権限がありません)", "Not found (it does not exist, or you may not see it)"),
    "error.409": ("今の状態ではできません", "Not possible in the current state"),
    "error.413": ("大きすぎます", "Too large"),
    "error.422": ("入力に誤りがあります", "Some input is not valid"),
    "error.429": ("要求が多すぎます。少し待ってからやり直してください", "Too many requests; wait a moment and try again"),
    "error.503": ("サービスが一時的に応答できません。少し待ってからやり直してください", "A service cannot answer right now; try again shortly"),
    "error.unreachable": ("{service} サービスに接続できません", "The {service} service cannot be reached"),
    "error.other": ("サービスがエラーを返しました", "A service answered with an error"),
    "error.detail": ("詳細", "Details"),
    "error.csrf": ("フォームの確認トークンが一致しません。ページを読み込み直してからやり直してください。",
                   "The form's check token does not match; reload the page and try again."),
    "error.back": ("戻る", "Back"),
    "done": ("完了しました", "Done"),
    "list.empty": ("該当するものはありません", "Nothing here"),
    "list.filter": ("絞り込み", "Filter"),
    "list.clear_filter": ("絞り込みを解除", "Clear filter"),
    "list.prev": ("前へ", "Previous"),
    "list.next": ("次へ", "Next"),
    "list.page": ("{page}ページ目", "Page {page}"),
    "list.sort": ("並べ替え", "Sort"),
    "confirm.generic": ("本当に実行しますか?", "Are you sure?"),
    "nojs.live": ("ライブ更新にはJavaScriptが必要です。再読み込みで最新になります。", "Live updates need JavaScript; reload to see the latest."),
})
