"""The pages' languages and files: Chinese first, English by a remembered switch, one catalogue; hashed, cached, gzipped assets."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from api import catalogue, create_app
from tests.api.test_pages import BROWSER, page_login
from tests.support import make_settings


@pytest.fixture
def client(fake_redis):
    return create_app(make_settings(ADMIN_PASSWORD="admin-pw", TRADER_PASSWORD="trader-pw"), fake_redis).test_client()


def test_every_string_of_the_pages_has_a_chinese_translation_with_its_placeholders():
    found = catalogue.found_messages()
    assert len(found) > 50 and "Log in" in found and "filled {volume}" in found  # templates, Python and JavaScript are read
    for lang in catalogue.LANGS:
        assert catalogue.problems(lang, catalogue.load(lang), found) == [], "run `python run.py i18n` and translate what it lists"


def test_the_compiled_catalogue_is_the_po_file_compiled():
    for lang in catalogue.LANGS:
        mo = catalogue.po_path(lang).with_suffix(".mo").read_bytes()
        assert mo == catalogue.compiled(catalogue.load(lang)), "messages.mo is older than messages.po: run `python run.py i18n`"


def test_pages_are_chinese_until_the_switch_says_english_and_the_choice_is_remembered(client):
    login = client.get("/login")
    assert '<html lang="zh-CN">' in login.text and ">登录</button>" in login.text
    page_login(client)
    status = client.get("/", headers={**BROWSER, "Accept-Language": "en-GB,en"})  # the browser's language does not decide
    assert ">状态</a>" in status.text and "Cookie" in status.headers["Vary"]
    switched = client.get("/lang/en", headers={"Referer": "http://localhost/trade"})
    assert switched.status_code == 303 and switched.headers["Location"] == "http://localhost/trade"
    assert "lang=en" in switched.headers["Set-Cookie"] and "Max-Age=" in switched.headers["Set-Cookie"]
    english = client.get("/")
    assert '<html lang="en">' in english.text and ">Status</a>" in english.text
    assert json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)</script>', english.text).group(1)) == {}
    client.get("/lang/zh")
    chinese = client.get("/")
    messages = json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)</script>', chinese.text).group(1))
    assert messages["filled {volume}"] == "成交 {volume}" and messages["buy"] == "买入"  # what the JavaScript's t() reads


def test_the_switch_never_sends_to_another_site_and_ignores_an_unknown_language(client):
    away = client.get("/lang/en", headers={"Referer": "https://evil.example/x"})
    assert away.headers["Location"] == "/"
    unknown = client.get("/lang/fr")
    assert unknown.status_code == 303 and "Set-Cookie" not in unknown.headers
    client.set_cookie("lang", "fr")
    assert '<html lang="zh-CN">' in client.get("/login").text


def test_assets_have_hashed_names_are_cached_a_year_and_sent_gzipped(client):
    page_login(client)
    html = client.get("/").text
    names = re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)
    assert {re.sub(r"\.[0-9a-f]{10}\.", ".", name) for name in names} >= {
        "/assets/bootstrap.min.css",
        "/assets/pages.css",
        "/assets/pages.js",
        "/assets/status.js",
        "/assets/favicon.svg",
    }
    css = next(name for name in names if "bootstrap" in name)
    zipped = client.get(css, headers={"Accept-Encoding": "gzip, br"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip" and zipped.mimetype == "text/css"
    assert zipped.headers["Cache-Control"] == "public, max-age=31536000, immutable" and "Accept-Encoding" in zipped.headers["Vary"]
    plain = client.get(css)
    assert "Content-Encoding" not in plain.headers and gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 4  # Bootstrap's 230 KB go as about 31 KB
    assert client.get(css, headers={"If-None-Match": zipped.headers["ETag"], "Accept-Encoding": "gzip"}).status_code == 304
    assert client.get(css.replace(".min.", ".max.")).status_code == 404
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.mimetype == "image/svg+xml"


def test_a_file_anyone_may_cache_never_carries_the_login_nor_an_encoding_the_browser_refused(client):
    page_login(client)
    css = re.search(r'href="(/assets/bootstrap[^"]+)"', client.get("/").text).group(1)
    for path in (css, "/favicon.ico"):
        answer = client.get(path)
        assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", ""), answer.headers
    assert client.get(css).headers["Content-Type"] == "text/css; charset=utf-8"
    for refused in ("gzip;q=0", "identity, gzip;q=0.0", "nogzip"):
        assert "Content-Encoding" not in client.get(css, headers={"Accept-Encoding": refused}).headers, refused
    zipped, plain = client.get(css, headers={"Accept-Encoding": "GZIP"}), client.get(css)
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != plain.headers["ETag"]  # two bodies, two tags
