"""GET /openapi.json: an OpenAPI 3.1 document generated from the routes and the pydantic models they validate with.

Routes describe themselves with @documented; nothing here repeats a field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from api.schemas import Failure
from common.rules.loose_types import JsonObject
from common.store.payloads import JobView

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    400: "malformed body or parameter",
    401: "authentication failed",
    403: "scope or account not allowed",
    404: "unknown account, order or job",
    409: "conflict",
    410: "an event cursor older than the oldest event kept",
    413: "request body over MAX_BODY_BYTES",
    422: "invalid field",
    423: "kill switch on",
    429: "too many requests",
    503: "Redis or the worker unavailable",
}


@dataclass(frozen=True)
class Documentation:
    """What /openapi.json says of one route (see `documented`)."""

    summary: str
    body: type[BaseModel] | None
    answers: dict[int, type[BaseModel]]
    query: dict[str, str]
    errors: tuple[int, ...]
    form: bool


View = TypeVar("View", bound=Callable[..., object])
_DOCUMENTED: dict[Callable[..., object], Documentation] = {}  # view function -> what it documents of itself


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    answers: dict[int, type[BaseModel]],
    query: dict[str, str] | None = None,
    errors: tuple[int, ...] = (401, 403, 422, 503),
    form: bool = False,
) -> Callable[[View], View]:
    """Record what /openapi.json says of a route: its body model, answer models by status, query parameters."""

    def mark(view: View) -> View:
        _DOCUMENTED[view] = Documentation(summary, body, answers, query or {}, errors, form)
        return view

    return mark


_VARIABLE = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict[str, object]]]:
    """A Flask rule as an OpenAPI path and its path parameters (int, any(...) as an enum, string)."""
    params: list[dict[str, object]] = []
    for converter, arguments, name in _VARIABLE.findall(rule):
        schema: JsonObject = {"type": "integer" if converter == "int" else "string"}
        if converter == "int":
            schema["minimum"] = 0
        if converter == "any":
            schema["enum"] = [a.strip().strip("'\"") for a in arguments.split(",")]
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _VARIABLE.sub(lambda m: "{" + m.group(3) + "}", rule), params


def build(app: Flask) -> JsonObject:
    routes: list[tuple[Rule, Documentation]] = []
    models: set[type[BaseModel]] = {Failure, JobView}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        spec = _DOCUMENTED.get(view) if view is not None else None
        if spec is None:
            continue
        routes.append((rule, spec))
        models.update(spec.answers.values())
        if spec.body is not None:
            models.add(spec.body)
    _, schemas = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF)
    paths: dict[str, dict[str, object]] = {}
    for rule, spec in sorted(routes, key=lambda r: r[0].rule):
        path, params = _path(rule.rule)
        params += [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "number"}} for n, d in spec.query.items()]
        scope = _scope_of(rule.endpoint)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: JsonObject = {"summary": spec.summary, "operationId": f"{rule.endpoint}_{method.lower()}", "responses": {}}
            if params:
                operation["parameters"] = params
            if spec.body is not None:
                ref = {"$ref": REF.format(model=spec.body.__name__)}
                content = {"application/json": {"schema": ref}}
                if spec.form:
                    content["application/x-www-form-urlencoded"] = {"schema": ref}
                operation["requestBody"] = {"required": True, "content": content}
            for status, model in spec.answers.items():
                operation["responses"][str(status)] = {
                    "description": model.__doc__.strip().splitlines()[0] if model.__doc__ else model.__name__,
                    "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
                }
            for status in spec.errors:
                operation["responses"][str(status)] = {
                    "description": ERROR_STATUSES[status],
                    "content": {"application/json": {"schema": {"$ref": REF.format(model="Failure")}}},
                }
            if scope:
                operation["security"] = [{"signature": []}, {"session": []}]
                operation["description"] = f"Needs the `{scope}` scope."
            else:
                operation["security"] = []
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "QMT order router",
            "version": "1.0",
            "description": "Signed HTTP API in front of QMT (see docs/api.md: How signing works).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Signature",
                    "description": "HMAC-SHA256 over METHOD, PATH, QUERY_STRING, canonical JSON body, X-Timestamp, X-Client-ID",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "session", "description": "after POST /login"},
            },
        },
    }


def _scope_of(endpoint: str) -> str | None:
    """The scope the access table (api.access) asks of a route; None for a route it lets anyone call."""
    from api import access  # imported here: access imports auth, which imports this module

    rule = access.rule_of(endpoint)
    return (" or ".join(rule.any_of) or rule.scope) if rule else None


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build(current_app))
