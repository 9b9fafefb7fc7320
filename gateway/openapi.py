"""``GET /openapi.json``: an OpenAPI 3.1 description of our routes, built from the wire models themselves."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse, ModelCard, ModelList

REF = "#/components/schemas/{model}"


def _schema(models: list[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json(ErrorResponse, "An OpenAI-style error") for status in statuses}


@cache
def openapi_document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "hunyuan-ocr-gateway", "version": "0.1.0",
                 "description": "OpenAI-compatible OCR with HunyuanOCR. Errors use OpenAI's error JSON."},
        "components": {
            "schemas": _schema([ChatCompletionRequest, ChatCompletion, ModelList, ModelCard, ErrorResponse]),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion", "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": REF.format(model="ChatCompletionRequest")}}}},
                "responses": {
                    "200": {"description": "A completion (JSON), or chunks as server-sent events when stream is true",
                            "content": {"application/json": {"schema": {"$ref": REF.format(model="ChatCompletion")}},
                                        "text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(400, 401, 404, 413, 415, 429, 500, 503, 504),
                },
            }},
            "/v1/models": {"get": {"operationId": "listModels", "security": bearer,
                                   "responses": {"200": _json(ModelList, "The served model"), **_errors(401)}}},
            "/v1/models/{model}": {"get": {
                "operationId": "retrieveModel", "security": bearer,
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(ModelCard, "The model"), **_errors(401, 404)},
            }},
            "/v1/tasks": {"get": {"operationId": "listTasks", "security": bearer, "responses": {
                "200": {"description": "The task catalog: official prompts per task"}, **_errors(401)}}},
            "/v1/tasks/{task}": {"get": {
                "operationId": "resolveTask", "security": bearer,
                "parameters": [
                    {"name": "task", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "target_lang", "in": "query", "schema": {"type": "string", "maxLength": 20}},
                    {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "lang", "in": "query", "schema": {"enum": ["en", "zh"]}},
                ],
                "responses": {"200": {"description": "The prompt the model gets for this task"}, **_errors(400, 401)},
            }},
            "/health": {"get": {"operationId": "health", "responses": {
                "200": {"description": "The engine serves"}, "503": {"description": "Loading, or the engine died"}}}},
            "/health/ready": {"get": {"operationId": "ready", "responses": {
                "200": {"description": "Ready for traffic"}, "503": {"description": "Not ready or queue full"}}}},
            "/metrics": {"get": {"operationId": "metrics", "responses": {"200": {
                "description": "Prometheus metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }  # fmt: skip


async def openapi_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())
