"""``/v1/batches``: create, retrieve, cancel and list, as OpenAI's Batch API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import edge
from gateway.jobstore.wire import Batch, BatchCreate, BatchList, BatchListQuery
from gateway.middleware.auth import key_owner
from gateway.openapi import Endpoint, errors, json_body, operation, parameter, returns


async def create_batch(request: Request) -> JSONResponse:
    body = edge.parse(BatchCreate, await edge.read_json(request))
    created = await request.app.state.jobs.batches.create(key_owner(request.scope), body)
    request.app.state.batch_worker.wake()
    return JSONResponse(created.model_dump())


async def retrieve_batch(request: Request) -> JSONResponse:
    found = await request.app.state.jobs.batches.get(key_owner(request.scope), request.path_params["batch_id"])
    return JSONResponse(found.model_dump())


async def cancel_batch(request: Request) -> JSONResponse:
    cancelled = await request.app.state.jobs.batches.cancel(key_owner(request.scope), request.path_params["batch_id"])
    request.app.state.batch_worker.wake()
    return JSONResponse(cancelled.model_dump())


async def list_batches(request: Request) -> JSONResponse:
    query = edge.parse(BatchListQuery, dict(request.query_params))
    return JSONResponse((await request.app.state.jobs.batches.page(key_owner(request.scope), query)).model_dump())


BATCH_ID = parameter("batch_id", "path", {"type": "string"})
PAGE = [parameter("limit", "query", {"type": "integer"}), parameter("after", "query", {"type": "string"})]
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/batches",
        create_batch,
        operation(
            "createBatch",
            {200: returns(Batch, "The batch, validating"), **errors(400, 401, 404)},
            requestBody=json_body(BatchCreate),
        ),
    ),
    Endpoint(
        "GET",
        "/v1/batches",
        list_batches,
        operation("listBatches", {200: returns(BatchList, "Newest first"), **errors(400, 401, 404)}, parameters=PAGE),
    ),
    Endpoint(
        "GET",
        "/v1/batches/{batch_id}",
        retrieve_batch,
        operation("retrieveBatch", {200: returns(Batch, "The batch"), **errors(401, 404)}, parameters=[BATCH_ID]),
    ),
    Endpoint(
        "POST",
        "/v1/batches/{batch_id}/cancel",
        cancel_batch,
        operation(
            "cancelBatch",
            {200: returns(Batch, "The batch, cancelling"), **errors(401, 404, 409)},
            parameters=[BATCH_ID],
        ),
    ),
]
