"""The route table: every endpoint the gateway serves, in one list. The app routes with it, ``/openapi.json``
describes it and ``/metrics`` labels requests by its paths, so adding a route is adding its module's endpoints
here."""

from __future__ import annotations

from gateway.openapi import Endpoint
from gateway.routes import batches, chat, docling, files, health, meta, mistral, models, ocr, tasks, web

ENDPOINTS: list[Endpoint] = [
    *chat.ENDPOINTS,
    *ocr.ENDPOINTS,
    *docling.ENDPOINTS,
    *mistral.ENDPOINTS,
    *models.ENDPOINTS,
    *health.ENDPOINTS,
    *meta.ENDPOINTS,
    *tasks.ENDPOINTS,
    *web.ENDPOINTS,
]
# The routes that keep objects in the job store (unless --no-batch-api): files (Mistral's purpose=ocr files and
# their signed URLs too), batches, docling's async tasks.
BATCH_ENDPOINTS: list[Endpoint] = [*files.ENDPOINTS, *batches.ENDPOINTS, *docling.TASK_ENDPOINTS]
