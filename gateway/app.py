"""Builds the Starlette application: routes, error handlers, engine lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from adapters.engine import Engine, PromptBuilder
from adapters.errors import EngineFault
from gateway.admission import AdmissionControl
from gateway.batch.worker import BatchWorker
from gateway.chat import ChatService
from gateway.config import BatchSettings, MediaSettings, Settings
from gateway.docling_serve.service import DoclingConverter
from gateway.docling_serve.task_worker import ConvertTaskWorker
from gateway.docling_serve.tasks import ConvertTaskStore
from gateway.documents.convert import DocumentService
from gateway.errors import (
    ClientError,
    GatewayError,
    StoreUnavailable,
    error_response,
    handle_engine_fault,
    handle_gateway_error,
    handle_unexpected_error,
)
from gateway.jobstore.database import unreachable
from gateway.jobstore.signed_urls import UrlSigner, signing_secret
from gateway.jobstore.store import JobStore
from gateway.lifecycle import Lifecycle, stop_this_process
from gateway.mcp_server import mcp_route
from gateway.media.fetch import FetchPolicy, MediaFetcher
from gateway.media.loader import MediaLimits, MediaLoader
from gateway.metrics import Metrics
from gateway.middleware.auth import APIKeyMiddleware
from gateway.middleware.request_log import RequestLogMiddleware
from gateway.mistral.service import MistralOcr
from gateway.ocr import OcrService
from gateway.openapi import openapi_document
from gateway.paddlex.jobs import PaddleOcrJobs
from gateway.paddlex.service import PaddleX
from gateway.routes import BATCH_ENDPOINTS, BATCH_WEBSOCKETS, ENDPOINTS
from gateway.routes.web import WEB_DIR
from gateway.tasks import TaskPlanner
from prompts.catalog import detect_prompt_set, load_prompt_set
from prompts.languages import load_names


def build_app(
    settings: Settings,
    engine: Engine,
    prompts: PromptBuilder,
    on_engine_failure: Callable[[], None] = stop_this_process,
) -> Starlette:
    """The gateway app; the engine starts with the app and stops with it. ``on_engine_failure`` runs when the
    engine cannot start or dies (default: the server shuts down and exits with code 3)."""

    fetcher = MediaFetcher(fetch_policy(settings.media))

    lifecycle = Lifecycle(engine, on_engine_failure)
    admission = AdmissionControl(settings.max_running_requests, settings.max_queued_requests)
    batch_api = settings.batch.data_dir is not None
    signer = _url_signer(settings.batch) if batch_api else None
    endpoints = [*ENDPOINTS, *(BATCH_ENDPOINTS if batch_api else [])]
    mcp, mcp_sessions = mcp_route(settings)
    routes: list[Route | WebSocketRoute | Mount] = [
        *(Route(endpoint.path, endpoint.handler, methods=[endpoint.method]) for endpoint in endpoints),
        *(BATCH_WEBSOCKETS if batch_api else []),
        mcp,
        Mount("/web", StaticFiles(directory=WEB_DIR), name="web"),
    ]
    metrics = Metrics(engine, admission, routes=frozenset(route.path for route in routes))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lifecycle.start()  # the model loads while the server already answers /health
        await asyncio.to_thread(load_names)  # language names for target_lang, off the event loop
        workers = await _start_job_workers(app) if batch_api else []
        try:
            async with mcp_sessions.run():
                yield
        finally:
            for worker in workers:
                await worker.stop()
            if workers:
                await app.state.jobs.close()
            await lifecycle.stop()
            await fetcher.aclose()
            await engine.shutdown()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestLogMiddleware, observers=(metrics.observe,)),
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=list(settings.cors_origins),
                        allow_methods=["*"],
                        allow_headers=["*"],
                        expose_headers=["X-Request-ID"],
                    )
                ]
                if settings.cors_origins
                else []
            ),
            Middleware(APIKeyMiddleware, keys=settings.api_keys, admits=signer.admits if signer else None),
        ],
        exception_handlers={
            GatewayError: handle_gateway_error,
            EngineFault: handle_engine_fault,  # a safety net: the services translate them already
            HTTPException: _handle_http_exception,
            SQLAlchemyError: _handle_database_error,
            ConnectionRefusedError: _handle_database_error,  # asyncpg's, unwrapped, while PostgreSQL is down
            ConnectionResetError: _handle_database_error,
            Exception: handle_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.lifecycle = lifecycle
    app.state.admission = admission
    app.state.metrics = metrics
    app.state.openapi = openapi_document(endpoints)
    limits = MediaLimits(max_bytes=int(settings.media.max_image_mb * 2**20), max_pdf_pages=settings.media.max_pdf_pages)
    media = MediaLoader(prompts.image_budget(), limits, fetcher)
    version = detect_prompt_set(prompts.model_config) if settings.prompt_set == "auto" else settings.prompt_set
    tasks = TaskPlanner(load_prompt_set(version))
    app.state.tasks = tasks
    # An engine serving its own model (rapidocr) names it, so clients are not told --model is serving.
    model_name = settings.served_model_name or engine.info.model_name or settings.model_name
    app.state.chat = ChatService(engine, prompts, media, tasks, model_name, settings.engine.max_images_per_prompt)
    app.state.ocr = OcrService(app.state.chat, media, settings.media.max_pdf_pages)
    app.state.documents = DocumentService(app.state.ocr, engine.info.parses_layout)
    app.state.docling = DoclingConverter(app.state.documents, app.state.ocr, fetcher)
    app.state.url_signer = signer
    app.state.mistral_ocr = MistralOcr(
        app.state.ocr, app.state.documents, fetcher, max_bytes=limits.max_bytes, model_name=model_name, signer=signer
    )
    app.state.paddlex = PaddleX(app.state.ocr, app.state.documents, fetcher, max_bytes=limits.max_bytes)
    app.state.paddleocr_jobs = (
        PaddleOcrJobs(
            app.state.paddlex,
            admission,
            signer,
            request_timeout=settings.request_timeout,
            keep_seconds=settings.batch.task_results_hours * 3600,
            max_queued_per_key=settings.batch.max_queued_tasks_per_key,
        )
        if signer is not None
        else None
    )
    return app


def _url_signer(settings: BatchSettings) -> UrlSigner:
    """Signs Mistral-style file download URLs; its secret is kept in the data directory unless one is given."""
    assert settings.data_dir is not None
    return UrlSigner(signing_secret(Path(settings.data_dir).expanduser(), settings.url_signing_key))


async def _start_job_workers(app: Starlette) -> list[BatchWorker | ConvertTaskWorker | PaddleOcrJobs]:
    """Opens the job store and starts the workers that feed batches and conversion tasks to the engine."""
    settings: Settings = app.state.settings
    jobs = await JobStore.open(settings.batch)
    single_gateway = jobs.database.dialect.name == "sqlite"  # no other gateway can hold a lease
    worker = BatchWorker(
        jobs.batches,
        jobs.files,
        app.state.chat,
        app.state.lifecycle,
        concurrency=settings.batch.batch_concurrency,
        request_timeout=settings.request_timeout,
        single_gateway=single_gateway,
        max_attempts=settings.batch.batch_max_attempts,
        metrics=app.state.metrics.batch,
    )
    convert_tasks = ConvertTaskStore(
        jobs.database,
        jobs.task_blobs,
        settings.batch.task_results_hours * 3600,
        max_queued_per_key=settings.batch.max_queued_tasks_per_key,
        leases=jobs.leases,
    )
    tasks = ConvertTaskWorker(
        convert_tasks,
        app.state.docling,
        app.state.admission,
        app.state.lifecycle,
        request_timeout=settings.request_timeout,
        max_attempts=settings.batch.task_max_attempts,
        single_gateway=single_gateway,
    )
    app.state.jobs, app.state.convert_tasks = jobs, convert_tasks
    app.state.batch_worker, app.state.convert_worker = worker, tasks
    worker.start()
    tasks.start()
    app.state.paddleocr_jobs.start(jobs.files)
    return [worker, tasks, app.state.paddleocr_jobs]


def fetch_policy(media: MediaSettings) -> FetchPolicy:
    return FetchPolicy(
        remote_media=media.remote_media,
        allowed_domains=media.allowed_media_domains,
        allow_private=media.allow_private_media,
        max_bytes=int(media.max_image_mb * 2**20),
    )


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """The job store's database down or restarting: a 503 to retry after, never a 500 or a hang."""
    if not unreachable(exc):
        return await handle_unexpected_error(request, exc)
    message = "The job store's database cannot be reached right now; try again shortly."
    return await handle_gateway_error(request, StoreUnavailable(message, headers={"Retry-After": "5"}))


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own 404/405 in OpenAI's error shape too.
    assert isinstance(exc, HTTPException)
    error = ClientError(exc.detail or "Request failed.")
    error.status_code = exc.status_code
    error.code = "not_found" if exc.status_code == 404 else None
    return error_response(error)
