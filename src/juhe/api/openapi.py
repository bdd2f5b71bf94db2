"""The OpenAPI document as a client must read it: how to authenticate (bearer keys, with the roles
each operation needs), which operations need an `Idempotency-Key`, that refusals are problem+json,
and links from what a POST creates to the operations on it (clients and schemathesis follow them).

FastAPI cannot see these by itself: keys are read in a dependency, idempotency keys inside the
handler (a missing one must be 400 `idempotency_key_required`, not a validation error), and errors
leave through exception handlers. They are read from the routes here, so a new route is described
the moment it exists."""

from __future__ import annotations

import inspect
import re

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from juhe.api.deps import get_principal
from juhe.api.errors import PROBLEM, problem
from juhe.api.idempotency import KEY_LENGTH_MAX

BEARER = "bearer"
ROLES_KEY = "x-juhe-roles"  # the roles that may call an operation (admin always may)
PLATFORM_KEY = "x-juhe-platform"  # the platform operator's token is also let in
# Handlers that read an Idempotency-Key through one of these names (idempotency.py).
KEY_READERS = {"idempotency_key", "run_idempotent"}
# Operations where the key is asked for only sometimes: a dynamic QR code is an order, a static one is not.
KEY_OPTIONAL = {("POST", "/v1/stores/{store_id}/qr-codes")}
METHODS = ("get", "put", "post", "patch", "delete")

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "what failed validation"},
        "problems": {"type": "array", "items": {"type": "object"}, "description": "every problem of a ledger batch"},
    },
    "additionalProperties": True,
}


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = describe(document, app.routes)
        return app.openapi_schema

    async def method_not_allowed(request: Request, exc: StarletteHTTPException):
        # Starlette's Allow names the methods of the first route that matched the path only.
        allowed = allowed_methods(openapi(), request.url.path) or sorted((exc.headers or {}).get("Allow", "").split(", "))
        response = problem(405, "method_not_allowed", f"{request.method} is not allowed here", request)
        response.headers["Allow"] = ", ".join(allowed)
        return response

    app.openapi = openapi
    app.add_exception_handler(405, method_not_allowed)


def allowed_methods(document: dict, path: str) -> list[str]:
    """The methods the document lists for `path`, or for the path template it fills in."""
    paths = document["paths"]
    if path in paths:  # /v1/settlements/runs before /v1/settlements/{settlement_id}
        return sorted(m.upper() for m in paths[path] if m in METHODS)
    for template, item in paths.items():
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            return sorted(m.upper() for m in item if m in METHODS)
    return []


def describe(document: dict, routes: list) -> dict:
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer",
        "description": "A merchant's API key (`Authorization: Bearer <key>`), or the platform operator's token "
                       "where an operation says so (`x-juhe-platform`).",
    }}
    for route in iter_route_contexts(routes):  # included routers' routes with their prefixes, as FastAPI walks them
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                operation = document["paths"][route.path_format].get(method.lower())
                if operation is not None:
                    _describe_operation(operation, route, method)
    _link_creations(document["paths"])
    return document


def _describe_operation(operation: dict, route, method: str) -> None:
    secured, roles, platform = _access(route.dependant)
    if ROLES_KEY in operation:  # a handler that checks its key itself says so in openapi_extra
        secured, roles = True, tuple(r for r in operation[ROLES_KEY] if r != "admin")
    parameters, platform_only = operation.get("parameters", []), False
    if any(p["in"] == "header" and p["name"].lower() == "authorization" for p in parameters):
        secured, roles, platform = True, None, True  # a handler that checks the platform token itself
        platform_only = True
        parameters = [p for p in parameters if not (p["in"] == "header" and p["name"].lower() == "authorization")]
    responses = operation.setdefault("responses", {})
    if secured:
        operation["security"] = [{BEARER: []}]
        operation[ROLES_KEY] = [] if platform_only else ["*"] if roles is None else ["admin", *roles]
        if platform:
            operation[PLATFORM_KEY] = True
        responses["401"] = _problem("missing, unknown or revoked key", {"WWW-Authenticate": {"schema": {"type": "string"}}})
        responses["403"] = _problem("the key's roles do not allow it")
        responses["429"] = _problem("`rate_limited`: this key spent its rate (api/rate_limits.py)",
                                    {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}})
    keyed = _reads_key(route.endpoint)
    if keyed:
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": (method, route.path_format) not in KEY_OPTIONAL,
            "description": "This request moves money: the same key and body return the stored answer "
                           "(`Idempotent-Replayed: true`), another body under the key is 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LENGTH_MAX, "pattern": r"^\S(.*\S)?$"},
        })
        responses["400"] = _problem("`idempotency_key_required` or `invalid_idempotency_key`")
    if parameters:
        operation["parameters"] = parameters
    if keyed and "201" in responses:
        # A key seen before answers what it answered then; a few creations say 200 for "already made".
        responses.setdefault("200", {**responses["201"], "description": "made earlier under this Idempotency-Key"})
    responses["422"] = _problem("`validation_error` (with `errors`) or a rule of the domain")
    responses["503"] = _problem("the database cannot take it now (`database_unavailable`, `database_busy`, `storage_full`, "
                                "`database_read_only`; Retry-After says when): nothing was written, retry")
    responses["4XX"] = _problem("a refusal; its `code` says which (see the README's error table)")


def _reads_key(function, depth: int = 0) -> bool:
    """Whether a handler reads an Idempotency-Key itself or through a helper of its own module."""
    names = _names(function.__code__)
    if KEY_READERS & names:
        return True
    helpers = (function.__globals__.get(n) for n in names)
    return depth < 3 and any(_reads_key(h, depth + 1) for h in helpers
                             if inspect.isfunction(h) and h.__module__ == function.__module__)


def _names(code) -> set[str]:
    """The global names a function's code uses, its inner functions and lambdas included."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if inspect.iscode(constant):
            names |= _names(constant)
    return names


def _problem(description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if headers:
        answer["headers"] = headers
    return answer


def _access(dependant: Dependant) -> tuple[bool, tuple[str, ...] | None, bool]:
    """(needs a key, the roles named or None for any role, the platform token also passes)."""
    secured, roles, platform = False, None, False
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is get_principal:
            secured = True
        elif hasattr(call, "roles"):
            secured, roles = True, tuple(call.roles)
            platform = platform or getattr(call, "platform", False)
        inner = _access(dependency)
        if inner[0]:
            secured, roles, platform = True, roles if roles is not None else inner[1], platform or inner[2]
    return secured, roles, platform


def _link_creations(paths: dict) -> None:
    """`POST /v1/things` → every operation on `/v1/things/{id}…`, the id taken from the answer's `id`."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for other, other_item in paths.items():
            rest = other.removeprefix(path + "/")
            if rest == other or not rest.startswith("{"):
                continue
            param = rest[1:rest.index("}")]
            for method in METHODS:
                target = other_item.get(method)
                if target is not None and target.get("operationId"):
                    links[target["operationId"]] = {"operationId": target["operationId"],
                                                   "parameters": {param: "$response.body#/id"}}
        if links:
            created["links"] = links
