"""Mounts the console on the API's FastAPI app: its pages, static files and refusals."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from juhe.console import aml, auth, credit, developers, installments, invoices, overview, payments, qr_codes, recon, reports, risk, scf, settlement, treasury
from juhe.console.web import HERE, Forbidden, NotLoggedIn, render

PAGES = (auth, overview, payments, recon, risk, settlement, treasury, qr_codes, installments, credit, scf, invoices, aml, reports, developers)


def install(app: FastAPI) -> None:
    for page in PAGES:
        app.include_router(page.router, include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(NotLoggedIn)
    async def to_login(request: Request, exc: NotLoggedIn) -> Response:
        if request.headers.get("hx-request"):  # htmx swaps fragments: tell it to load the login page
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        if request.method != "GET":
            return Response("not logged in", status_code=401)
        return RedirectResponse("/console/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "forbidden.html", None, 403)

    api_answer = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def form_refused(request: Request, exc: RequestValidationError) -> Response:
        """A console form that does not validate is answered with a page naming each field, not JSON."""
        if not request.url.path.startswith("/console"):
            return await api_answer(request, exc)
        problems = [(".".join(str(p) for p in e.get("loc", ())[1:]) or "form", e.get("msg", "invalid")) for e in exc.errors()]
        return render(request, "form_error.html", None, 422, problems=problems)
