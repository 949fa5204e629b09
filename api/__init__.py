"""The web role: a thin Flask app that authenticates, validates and enqueues. It never touches QMT."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from flask import Flask, current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from common.config.settings import Settings, get_settings
from common.desk.submission import Desk
from common.store.connections import connect, probe_connection


@dataclass
class Router:
    """What every request handler needs: settings, the Redis connection and the one way in (the Desk)."""

    settings: Settings
    redis: redis.Redis
    desk: Desk


def router() -> Router:
    """This app's Router (inside a request)."""
    found: Router = current_app.extensions["router"]  # Flask's extensions are untyped: name what create_app put there
    return found


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> Flask:
    """Build the web app; tests pass their own settings and connection."""
    from api import (
        access,
        assets,
        auth,
        csrf,
        errors,
        events_api,
        health,
        i18n,
        jobs_api,
        metrics_api,
        openapi,
        pages,
        probes,
        query_api,
        request_log,
        risk_api,
        routines_api,
        sim_api,
        trade_api,
        trail,
        waiting,
    )

    settings = settings or get_settings()
    app = Flask(__name__, static_folder=None)  # the pages' files are api.assets', under hashed names
    app.config.update(
        SECRET_KEY=settings.FLASK_SECRET_KEY or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",  # a cross-site page never rides a logged-in cookie
        SESSION_COOKIE_SECURE=settings.SESSION_COOKIE_SECURE,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.SESSION_HOURS),
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=settings.MAX_BODY_BYTES,  # 413 before a larger body is read (waitress refuses it before Flask: api.server)
        STARTED_AT=time.time(),  # /health calls a young router with no worker heartbeat yet "starting"
    )
    if isinstance(app.json, DefaultJSONProvider):  # what Flask() makes: Chinese names as they are, not \u escapes
        app.json.ensure_ascii = False
    if settings.TRUSTED_PROXIES:  # the client's address is the one the nearest proxies put in X-Forwarded-For
        # the middleware wraps wsgi_app as Flask's documentation shows; mypy sees a method assigned
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.TRUSTED_PROXIES)  # type: ignore[method-assign]
    # readiness pings Redis with short timeouts; a test's own connection (fakeredis) serves as its probe too
    probe = probe_connection(settings) if settings.REDIS_URL or connection is None else connection
    connection = connection or connect(settings)
    app.extensions["router"] = Router(settings=settings, redis=connection, desk=Desk(settings, connection))
    request_log.register(app)
    errors.register(app)
    access.register(app)  # every route authenticated from the one access table, before anything else reads the request
    csrf.register(app)
    assets.register(app)  # Bootstrap's CSS from its package, served with ours: the pages work with no internet
    i18n.register(app)
    trail.register(app)
    waiting.register(app)
    app.register_blueprint(trade_api.bp)
    app.register_blueprint(query_api.bp)
    app.register_blueprint(risk_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(jobs_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(routines_api.bp)
    app.register_blueprint(events_api.bp)
    probes.register(app, probe)
    metrics_api.register(app)
    app.register_blueprint(pages.bp)
    if settings.BROKER == "sim":
        app.register_blueprint(sim_api.bp)
    return app
