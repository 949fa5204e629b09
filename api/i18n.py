"""The pages' languages: Chinese first, English by a switch the browser remembers (a cookie), one message catalogue.

The catalogue is gettext's (api/translations/<lang>/LC_MESSAGES/messages.po, compiled to .mo; flask-babel reads it):
templates say `{{ _("Positions") }}`, the pages' JavaScript says `t("Positions")` and gets the same catalogue's
translation from the page (`js_messages`: every `t("…")` of api/static, translated for the page's language). The
msgids are English, so English needs no catalogue of its own. `python run.py i18n` extracts, merges and compiles
(api.catalogue). The JSON API keeps answering in English: its clients are programs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Flask, Response, redirect, request
from flask_babel import Babel, get_locale, gettext
from werkzeug.wrappers.response import Response as BaseResponse

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT = "zh"  # the users trade on China's exchanges and read the terminal in Chinese
COOKIE = "lang"
COOKIE_SECONDS = 400 * 86_400  # remembered as long as a browser keeps a cookie
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


def language() -> str:
    """The page's language: the switch's cookie, else Chinese."""
    chosen = request.cookies.get(COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT


@cache
def js_msgids() -> tuple[str, ...]:
    """Every string the pages' JavaScript passes to t(), found by the same extractor `run.py i18n` uses."""
    from api.catalogue import javascript_messages

    return tuple(sorted({message for message, _ in javascript_messages(STATIC)}))


@cache
def _js_messages(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    return {msgid: gettext(msgid) for msgid in js_msgids()}


def js_messages() -> dict[str, str]:
    """The JavaScript's messages in the page's language (English: none, t() keeps its msgid)."""
    return _js_messages(str(get_locale()))


def switch_language(lang: str) -> BaseResponse:
    """GET /lang/<lang>: remember the choice and go back to the page it was made on (only ever a page of this site)."""
    back = request.referrer or "/"
    if not back.startswith(request.host_url):
        back = "/"
    response = redirect(back, 303)
    if lang in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_SECONDS, samesite="Lax", httponly=True, secure=request.is_secure)
    return response


def register(app: Flask) -> None:
    """flask-babel on the app (Asia/Shanghai times), the switch's route, and what every template may use."""
    Babel(app, locale_selector=language, timezone_selector=lambda: "Asia/Shanghai", default_translation_directories=str(HERE / "translations"))
    app.add_url_rule("/lang/<lang>", "i18n.switch", switch_language)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"languages": LANGUAGES, "lang": language(), "js_messages": js_messages}

    @app.after_request
    def _vary(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("Cookie")  # a page's words depend on the language cookie
        return response
