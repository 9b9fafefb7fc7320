"""``GET /health`` (liveness) and ``GET /health/ready`` (readiness): 200 while the engine serves, 503 otherwise;
``GET /ready`` and ``GET /version`` as docling-serve names them (docling's service client reads ``/version``)."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import version as installed

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import __version__
from gateway.openapi import Endpoint, operation


async def health(request: Request) -> JSONResponse:
    """503 while the model loads and after the engine died (the server then exits; see the README)."""
    engine = request.app.state.engine
    state = request.app.state.lifecycle.state
    healthy = state == "ready" and engine.is_healthy()
    body = {
        "status": "ok" if healthy else ("loading" if state == "loading" else "unavailable"),
        "model": request.app.state.chat.model_name,
        "engine": {"unfinished_requests": engine.num_unfinished_requests()},
    }
    headers = {} if healthy else {"Retry-After": "5"}
    return JSONResponse(body, status_code=200 if healthy else 503, headers=headers)


async def ready(request: Request) -> JSONResponse:
    """Like ``/health``, and also 503 while the request queue is full (a load balancer should look elsewhere)."""
    response = await health(request)
    admission = request.app.state.admission
    if response.status_code == 200 and admission.waiting >= request.app.state.settings.max_queued_requests:
        return JSONResponse({"status": "busy"}, status_code=503, headers={"Retry-After": "1"})
    return response


VERSIONS = {
    "hunyuan-ocr-gateway": __version__,
    "docling-core": installed("docling-core"),
    "python": f"{sys.implementation.cache_tag} ({platform.python_version()})",
}


async def versions(request: Request) -> JSONResponse:
    """docling-serve's ``/version``: a flat map of package to version (without its platform string, which says
    more about the host than a client needs)."""
    return JSONResponse(VERSIONS)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        health,
        operation("health", {200: "The engine serves", 503: "Loading, or the engine died"}),
    ),
    Endpoint(
        "GET",
        "/health/ready",
        ready,
        operation("ready", {200: "Ready for traffic", 503: "Not ready or queue full"}),
    ),
    Endpoint(
        "GET",
        "/ready",
        ready,
        operation("readiness", {200: "As /health/ready (docling-serve's name)", 503: "Not ready or queue full"}),
    ),
    Endpoint(
        "GET",
        "/version",
        versions,
        operation("version", {200: "Versions of the gateway and the libraries its answers depend on"}),
    ),
]
