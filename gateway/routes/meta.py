"""``GET /metrics`` (Prometheus) and ``GET /openapi.json`` (built from the route table at start-up)."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.openapi import Endpoint, operation


async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        operation(
            "metrics",
            {200: {"description": "Prometheus metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        ),
    ),
    Endpoint("GET", "/openapi.json", openapi),
]
