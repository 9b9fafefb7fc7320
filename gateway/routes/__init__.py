"""The route table: every endpoint the gateway serves, in one list. The app routes with it, ``/openapi.json``
describes it and ``/metrics`` labels requests by its paths, so adding a route is adding its module's endpoints
here."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from gateway.openapi import Endpoint
from gateway.routes import (
    batches,
    chat,
    docling,
    docling_chunk,
    files,
    health,
    meta,
    mistral,
    models,
    ocr,
    paddleocr_jobs,
    paddlex,
    tasks,
    web,
)

ENDPOINTS: list[Endpoint] = [
    *chat.ENDPOINTS,
    *ocr.ENDPOINTS,
    *docling.ENDPOINTS,
    *docling_chunk.ENDPOINTS,
    *mistral.ENDPOINTS,
    *paddlex.ENDPOINTS,
    *models.ENDPOINTS,
    *health.ENDPOINTS,
    *meta.ENDPOINTS,
    *tasks.ENDPOINTS,
    *web.ENDPOINTS,
]
# The routes that keep objects in the job store (unless --no-batch-api): files (Mistral's purpose=ocr files and
# their signed URLs too), batches, docling's async tasks, PaddleOCR's jobs (their results are signed file URLs).
BATCH_ENDPOINTS: list[Endpoint] = [
    *files.ENDPOINTS,
    *batches.ENDPOINTS,
    *docling.TASK_ENDPOINTS,
    *docling_chunk.TASK_ENDPOINTS,
    *paddleocr_jobs.ENDPOINTS,
]
# WebSocket routes, served with the job store as they watch its tasks (OpenAPI does not describe websockets).
BATCH_WEBSOCKETS: list[WebSocketRoute] = [*docling.TASK_WEBSOCKETS]
