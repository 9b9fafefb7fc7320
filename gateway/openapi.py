"""``GET /openapi.json``: an OpenAPI 3.1 description of our routes, built from the wire models themselves."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.batch.wire import Batch, BatchCreate, BatchList, FileDeleted, FileList, FileObject
from gateway.ocr import OcrOptions, OcrResponse
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


def _ocr_fields() -> dict[str, Any]:
    """``POST /ocr``'s options (query or form fields), each without the "or null" branch pydantic adds."""
    fields = {}
    for name, schema in OcrOptions.model_json_schema()["properties"].items():
        branches = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") != "null"]
        fields[name] = {key: value for key, value in branches[0].items() if key != "title"}
    return fields


def _ocr_operation(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    form = {"type": "object", "properties": {"file": {"type": "array", "items": binary}, **_ocr_fields()}}
    return {
        "operationId": "ocr", "security": bearer,
        "description": "Images or PDFs in, text out. Each image and PDF page is one chat request with the task given.",
        "parameters": [{"name": name, "in": "query", "required": False, "schema": schema}
                       for name, schema in _ocr_fields().items()],
        "requestBody": {"required": True, "content": {
            "image/png": {"schema": binary}, "image/jpeg": {"schema": binary},
            "application/pdf": {"schema": binary}, "multipart/form-data": {"schema": form}}},
        "responses": {
            "200": {"description": "The text (JSON), or progress events (NDJSON / SSE) when stream is set",
                    "content": {"application/json": {"schema": {"$ref": REF.format(model="OcrResponse")}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                                "text/event-stream": {"schema": {"type": "string"}}}},
            **_errors(400, 401, 413, 415, 429, 500, 503, 504),
        },
    }  # fmt: skip


@cache
def openapi_document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "hunyuan-ocr-gateway", "version": "0.1.0",
                 "description": "OpenAI-compatible OCR with HunyuanOCR. Errors use OpenAI's error JSON."},
        "components": {
            "schemas": _schema(
                [
                    ChatCompletionRequest, ChatCompletion, ModelList, ModelCard, ErrorResponse, OcrResponse,
                    FileObject, FileList, FileDeleted, BatchCreate, Batch, BatchList,
                ]  # fmt: skip
            ),
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
            "/ocr": {"post": _ocr_operation(bearer)},
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
            **_batch_paths(bearer),
        },
    }  # fmt: skip


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def _batch_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """``/v1/files`` and ``/v1/batches`` (served unless ``--no-batch-api``)."""
    file_id, batch_id = (
        _parameter("file_id", "path", {"type": "string"}),
        _parameter("batch_id", "path", {"type": "string"}),
    )
    upload = {
        "type": "object",
        "required": ["file", "purpose"],
        "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string"}},
    }
    page = [_parameter("limit", "query", {"type": "integer"}), _parameter("after", "query", {"type": "string"})]
    return {
        "/v1/files": {
            "post": {"operationId": "createFile", "security": bearer,
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": upload}}},
                     "responses": {"200": _json(FileObject, "The stored file"), **_errors(400, 401, 413)}},
            "get": {"operationId": "listFiles", "security": bearer,
                    "parameters": [*page, _parameter("purpose", "query", {"type": "string"}),
                                   _parameter("order", "query", {"type": "string", "enum": ["asc", "desc"]})],
                    "responses": {"200": _json(FileList, "The key's files"), **_errors(400, 401, 404)}},
        },
        "/v1/files/{file_id}": {
            "get": {"operationId": "retrieveFile", "security": bearer, "parameters": [file_id],
                    "responses": {"200": _json(FileObject, "The file"), **_errors(401, 404)}},
            "delete": {"operationId": "deleteFile", "security": bearer, "parameters": [file_id],
                       "responses": {"200": _json(FileDeleted, "Deleted"), **_errors(401, 404)}},
        },
        "/v1/files/{file_id}/content": {"get": {
            "operationId": "downloadFile", "security": bearer, "parameters": [file_id],
            "responses": {"200": {"description": "The file's bytes",
                                  "content": {"application/octet-stream": {"schema": {"type": "string"}}}},
                          **_errors(401, 404)}}},
        "/v1/batches": {
            "post": {"operationId": "createBatch", "security": bearer,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": REF.format(model="BatchCreate")}}}},
                     "responses": {"200": _json(Batch, "The batch, validating"), **_errors(400, 401, 404)}},
            "get": {"operationId": "listBatches", "security": bearer, "parameters": page,
                    "responses": {"200": _json(BatchList, "Newest first"), **_errors(400, 401, 404)}},
        },
        "/v1/batches/{batch_id}": {"get": {
            "operationId": "retrieveBatch", "security": bearer, "parameters": [batch_id],
            "responses": {"200": _json(Batch, "The batch"), **_errors(401, 404)}}},
        "/v1/batches/{batch_id}/cancel": {"post": {
            "operationId": "cancelBatch", "security": bearer, "parameters": [batch_id],
            "responses": {"200": _json(Batch, "The batch, cancelling"), **_errors(401, 404, 409)}}},
    }  # fmt: skip


async def openapi_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())
