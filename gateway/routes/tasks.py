"""``GET /v1/tasks`` (the task catalog the server uses) and ``GET /v1/tasks/{task}`` (one task's prompt).

Our extension, for clients that want to show what the model will be asked (the web page does): the prompt
comes from the same catalog code the chat endpoint uses, so what is shown is what is sent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import edge
from gateway.errors import InvalidRequest
from gateway.ocr_protocol import QueryFieldNames
from gateway.openapi import Endpoint, errors, operation, parameter
from gateway.tasks import TaskPlanner, explicit_task
from prompts.catalog import UnknownTask
from prompts.languages import LANGUAGES


class TaskQuery(BaseModel):
    """The arguments a task may take, with the chat request's limits."""

    model_config = ConfigDict(extra="forbid")

    target_lang: str | None = Field(default=None, max_length=20)
    fields: QueryFieldNames = None  # as /ocr takes them: repeated, comma-separated or a JSON array
    lang: Literal["en", "zh"] | None = None


async def list_tasks(request: Request) -> JSONResponse:
    prompt_set = _planner(request).prompt_set
    tasks = [
        {"id": name, "output": spec["output"], "prompts": {lang: spec[lang] for lang in ("en", "zh") if lang in spec}}
        for name, spec in prompt_set.tasks.items()
    ]
    return JSONResponse(
        {
            "object": "list",
            "prompt_set": prompt_set.version,
            "default_task": prompt_set.default_task,
            "target_languages": {code: names[0] for code, names in LANGUAGES.items()},
            "data": tasks,
        }
    )


async def resolve_task(request: Request) -> JSONResponse:
    params = request.query_params
    query = edge.parse(
        TaskQuery,
        {"target_lang": params.get("target_lang"), "fields": params.getlist("fields"), "lang": params.get("lang")},
    )
    prompt_set = _planner(request).prompt_set
    try:
        task = prompt_set.resolve(
            explicit_task(request.path_params["task"], query.target_lang, query.fields, query.lang)
        )
    except UnknownTask as error:
        raise InvalidRequest(str(error), param=error.param) from None
    return JSONResponse(
        {"task": task.task, "prompt": task.prompt, "output": task.output, "prompt_set": prompt_set.version}
    )


def _planner(request: Request) -> TaskPlanner:
    planner: TaskPlanner = request.app.state.tasks
    return planner


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/tasks",
        list_tasks,
        operation("listTasks", {200: "The task catalog: official prompts per task", **errors(401)}),
    ),
    Endpoint(
        "GET",
        "/v1/tasks/{task}",
        resolve_task,
        operation(
            "resolveTask",
            {200: "The prompt the model gets for this task", **errors(400, 401)},
            parameters=[
                parameter("task", "path", {"type": "string"}),
                parameter("target_lang", "query", {"type": "string", "maxLength": 20}),
                parameter("fields", "query", {"type": "array", "items": {"type": "string"}}),
                parameter("lang", "query", {"enum": ["en", "zh"]}),
            ],
        ),
    ),
]
