"""``GET /v1/models`` and ``GET /v1/models/{model}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.errors import ModelNotFound
from gateway.openapi import Endpoint, errors, operation, parameter, returns
from gateway.protocol import ModelCard, ModelList


def _card(request: Request) -> ModelCard:
    engine = request.app.state.engine
    return ModelCard(
        id=request.app.state.chat.model_name,
        root=engine.info.model_path,
        max_model_len=engine.info.max_model_len or None,
        engine=engine.info.engine,
        parses_layout=engine.info.parses_layout,
    )


async def list_models(request: Request) -> JSONResponse:
    return JSONResponse(ModelList(data=[_card(request)]).model_dump())


async def retrieve_model(request: Request) -> JSONResponse:
    card = _card(request)
    if request.path_params["model"] != card.id:
        raise ModelNotFound(f"The model {request.path_params['model']!r} does not exist.", param="model")
    return JSONResponse(card.model_dump())


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/models",
        list_models,
        operation("listModels", {200: returns(ModelList, "The served model"), **errors(401)}),
    ),
    Endpoint(
        "GET",
        "/v1/models/{model:path}",
        retrieve_model,
        operation(
            "retrieveModel",
            {200: returns(ModelCard, "The model"), **errors(401, 404)},
            parameters=[parameter("model", "path", {"type": "string"})],
        ),
    ),
]
