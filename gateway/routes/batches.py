"""``/v1/batches``: create, retrieve, cancel and list, as OpenAI's Batch API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.batch.wire import BatchCreate, BatchListQuery
from gateway.middleware.auth import key_owner
from gateway.routes.chat import read_json
from gateway.routes.files import parse_model


async def create_batch(request: Request) -> JSONResponse:
    body = parse_model(BatchCreate, await read_json(request))
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
    query = parse_model(BatchListQuery, dict(request.query_params))
    return JSONResponse((await request.app.state.jobs.batches.page(key_owner(request.scope), query)).model_dump())
