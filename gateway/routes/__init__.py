"""The route table: every endpoint the gateway serves, in one list. The app routes with it, ``/openapi.json``
describes it and ``/metrics`` labels requests by its paths, so adding a route is adding its module's endpoints
here."""

from __future__ import annotations

from gateway.openapi import Endpoint
from gateway.routes import batches, chat, files, health, meta, mistral, models, ocr, tasks, web

ENDPOINTS: list[Endpoint] = [
    *chat.ENDPOINTS,
    *ocr.ENDPOINTS,
    *mistral.ENDPOINTS,
    *models.ENDPOINTS,
    *health.ENDPOINTS,
    *meta.ENDPOINTS,
    *tasks.ENDPOINTS,
    *web.ENDPOINTS,
]
# With a data directory (unless --no-batch-api): also Mistral's purpose=ocr files and their signed URLs.
BATCH_ENDPOINTS: list[Endpoint] = [*files.ENDPOINTS, *batches.ENDPOINTS]
