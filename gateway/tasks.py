"""Choosing the task for a chat request and giving the model its official prompt.

Order of precedence, for a conversation that holds an image:
1. the request's own ``task`` (our extension, with ``target_lang`` / ``fields`` / ``lang``);
2. a ``json_schema`` response format: its property names become the fields to extract;
3. the last user message's words: an official prompt verbatim, else the intent matcher;
4. an image with no words: the prompt set's default task.
Otherwise (or with ``task: "none"``) the user's words go to the model unchanged.
The chosen prompt replaces the words of the last user message; its images stay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from adapters.engine import Turn
from gateway import protocol as wire
from gateway.errors import InvalidRequest
from prompts.catalog import PromptSet, ResolvedTask, TaskRequest, UnknownTask
from prompts.intents import match_intent

AUTO, NONE = "auto", "none"


@dataclass(frozen=True)
class TaskPlan:
    """The turns to send and the task they carry (``None``: the user's words, unchanged)."""

    turns: list[Turn]
    task: ResolvedTask | None


class TaskPlanner:
    """Applies one prompt set (HunyuanOCR 1.0 or 1.5) to chat requests."""

    def __init__(self, prompt_set: PromptSet) -> None:
        self.prompt_set = prompt_set

    def plan(self, request: wire.CompletionOptions, turns: list[Turn]) -> TaskPlan:
        has_image = any(isinstance(part, Image.Image) for turn in turns for part in turn.parts)
        last_user = max((index for index, turn in enumerate(turns) if turn.role == "user"), default=None)
        if request.task == NONE or last_user is None or not has_image:
            return TaskPlan(turns, None)
        words = "".join(part for part in turns[last_user].parts if isinstance(part, str)).strip()
        wanted = self._wanted(request, words)
        if wanted is None:
            return TaskPlan(turns, None)
        try:
            task = self.prompt_set.resolve(wanted)
        except UnknownTask as error:
            raise InvalidRequest(str(error), param=error.param) from None
        images = [part for part in turns[last_user].parts if isinstance(part, Image.Image)]
        rewritten = [*turns[:last_user], Turn("user", [*images, task.prompt]), *turns[last_user + 1 :]]
        return TaskPlan(rewritten, task)

    def _wanted(self, request: wire.CompletionOptions, words: str) -> TaskRequest | None:
        if request.task not in (None, AUTO):
            return explicit_task(request.task, request.target_lang, request.fields, request.lang)
        if schema_fields := _schema_fields(request.response_format):
            return TaskRequest("fields", fields=schema_fields, lang=request.lang)
        if not words:
            return TaskRequest(self.prompt_set.default_task, lang=request.lang)
        matched = self.prompt_set.official_task(words) or match_intent(words)
        return replace(matched, lang=request.lang or matched.lang) if matched else None

    def sampling_defaults(self) -> dict[str, Any]:
        """The model's official decoding settings, for fields a request leaves out."""
        return dict(self.prompt_set.sampling)


def explicit_task(name: str, target_lang: str | None, fields: list[str] | None, lang: str | None) -> TaskRequest:
    """A task the client names (the request's ``task``); ``field`` takes its key from the first field."""
    names = tuple(fields or ())
    return TaskRequest(name, target_lang=target_lang, fields=names, key=names[0] if names else None, lang=lang)


def _schema_fields(response_format: wire.ResponseFormat | None) -> tuple[str, ...]:
    if response_format is None or response_format.type != "json_schema" or not response_format.json_schema:
        return ()
    schema = response_format.json_schema.get("schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return tuple(str(name) for name in properties) if isinstance(properties, dict) else ()
