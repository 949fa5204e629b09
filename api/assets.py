"""The pages' static files under names that carry their content's hash, cached for a year, gzipped once at start.

`asset_url("pages.js")` in a template gives /assets/pages.<hash>.js: a changed file gets a new name, so a browser
may keep each file for a year (`immutable`) and never asks again, and a new release is never mixed with an old
script. Files are read, hashed and compressed once when the app is built (our own api/static and Bootstrap's CSS
from bootstrap-flask's package), and served from memory: the gzip is computed once, not per request. Written here
rather than with flask-static-digest, which writes digested copies into the checkout at build time.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, request, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin

YEAR = 365 * 86_400
ASSET_ENDPOINTS = frozenset({"assets.asset", "assets.favicon"})
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Asset:
    name: str  # as templates ask for it: pages.js
    hashed: str  # as it is served: pages.3f2a1b9c04.js
    body: bytes
    gzipped: bytes
    mimetype: str


def _asset(name: str, body: bytes) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:10]
    stem, dot, suffix = name.rpartition(".")
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Asset(name, f"{stem}.{digest}{dot}{suffix}", body, gzip.compress(body, 9, mtime=0), mimetype)


def _sources() -> dict[str, Path]:
    import flask_bootstrap

    bootstrap_css = Path(flask_bootstrap.__file__).resolve().parent / "static" / "bootstrap5" / "css" / "bootstrap.min.css"
    found = {path.name: path for path in sorted((HERE / "static").iterdir()) if path.is_file()}
    found["bootstrap.min.css"] = bootstrap_css
    return found


def register(app: Flask) -> None:
    """Read, hash and gzip every asset once; `asset_url` for templates; GET /assets/<hashed> and /favicon.ico."""
    by_name = {name: _asset(name, path.read_bytes()) for name, path in _sources().items()}
    by_hashed = {asset.hashed: asset for asset in by_name.values()}

    def asset_url(name: str) -> str:
        return url_for("assets.asset", hashed=by_name[name].hashed)

    def serve(asset: Asset, max_age: int) -> Response:
        zipped = request.accept_encodings["gzip"] > 0  # by the header's own rules: gzip;q=0 refuses it
        response = Response(asset.gzipped if zipped else asset.body, mimetype=asset.mimetype)  # Werkzeug adds text's charset
        if zipped:
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if max_age == YEAR else "")
        response.set_etag(asset.hashed + ("-gzip" if zipped else ""))  # two bodies, two tags
        response.make_conditional(request)  # 304 when the browser has it
        return response

    def asset(hashed: str) -> Response:
        found = by_hashed.get(hashed)
        if found is None:
            abort(404)
        return serve(found, YEAR)

    def favicon() -> Response:  # what a browser asks for by itself; the pages name the hashed one
        return serve(by_name["favicon.svg"], 86_400)

    app.add_url_rule("/assets/<hashed>", "assets.asset", asset)
    app.add_url_rule("/favicon.ico", "assets.favicon", favicon)
    app.add_template_global(asset_url)
    app.session_interface = _NoSessionOnAssets()


class _NoSessionOnAssets(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a file anyone may cache never carries the session cookie (a logged-in
    browser's refresh of it) nor Vary: Cookie: a shared cache could keep a login, and the browser's cache would miss."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if request.endpoint in ASSET_ENDPOINTS:
            return
        super().save_session(app, session, response)
