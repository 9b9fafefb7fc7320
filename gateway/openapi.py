"""Endpoints and ``/openapi.json``: each route module lists its endpoints with their OpenAPI operation, and the
document is built from the same route table the app routes with (so the two cannot drift apart).

An operation is written as OpenAPI's own dict, with one shortcut: a pydantic model class may stand wherever a
schema goes; the document refers to it (``$ref``) and lists its JSON schema once under ``components``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from gateway.middleware.auth import is_protected
from gateway.protocol import ErrorResponse

REF = "#/components/schemas/{model}"
BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class Endpoint:
    """One route: its method and path (a Starlette path template), its handler, and its OpenAPI operation
    (``None``: served but not described, as the web page)."""

    method: str
    path: str
    handler: Callable[[Request], Awaitable[Response]]
    operation: dict[str, Any] | None = None


def operation(operation_id: str, responses: dict[int, Any], **extra: Any) -> dict[str, Any]:
    """An operation; ``responses`` maps statuses to a response object, or to a description alone."""
    described = {
        str(status): {"description": answer} if isinstance(answer, str) else answer
        for status, answer in responses.items()
    }
    return {"operationId": operation_id, **extra, "responses": described}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": model}}}


def returns(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": model}}}


def errors(*statuses: int) -> dict[int, Any]:
    return {status: returns(ErrorResponse, "An OpenAI-style error") for status in statuses}


def parameter(name: str, where: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def query_fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields as query (or form) parameters' schemas, each without the "or null" branch pydantic adds."""
    fields = {}
    for name, schema in model.model_json_schema()["properties"].items():
        branches = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") != "null"]
        fields[name] = {key: value for key, value in branches[0].items() if key != "title"}
    return fields


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints``."""
    models: dict[str, type[BaseModel]] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.operation is None:
            continue
        described = _with_refs(endpoint.operation, models)
        if is_protected(endpoint.path):
            described = {**described, "security": [{"bearer": []}]}
        paths.setdefault(endpoint.path.replace(":path}", "}"), {})[endpoint.method.lower()] = described
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hunyuan-ocr-gateway",
            "version": "0.1.0",
            "description": "OpenAI-compatible OCR with HunyuanOCR. Errors use OpenAI's error JSON.",
        },
        "components": {
            "schemas": _schemas(models.values()),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }


def _with_refs(value: Any, models: dict[str, type[BaseModel]]) -> Any:
    """``value`` with every model class replaced by a ``$ref`` to it (recorded in ``models``)."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        models[value.__name__] = value
        return {"$ref": REF.format(model=value.__name__)}
    if isinstance(value, dict):
        return {key: _with_refs(item, models) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_refs(item, models) for item in value]
    return value


def _schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
