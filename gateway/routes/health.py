"""``GET /health``: 200 while the engine serves, 503 otherwise."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def health(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    healthy = engine.is_healthy()
    body = {
        "status": "ok" if healthy else "unavailable",
        "model": request.app.state.settings.model_name,
        "engine": {"unfinished_requests": engine.num_unfinished_requests()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
