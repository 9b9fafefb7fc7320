"""The task catalog: HunyuanOCR's official prompts per model version (``tasks.json``) and how to fill them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from prompts.languages import UnknownLanguage, resolve_language

CATALOG_PATH = Path(__file__).with_name("tasks.json")
PROMPT_SETS = ("1.0", "1.5")


class UnknownTask(ValueError):
    """A task name, language or argument the catalog cannot serve; ``param`` names the request field at fault."""

    def __init__(self, message: str, param: str = "task") -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class TaskRequest:
    """What the user asked for: a task and its arguments (``target_lang``, ``fields``, ``key``, ``lang``)."""

    task: str
    target_lang: str | None = None
    fields: tuple[str, ...] = ()
    key: str | None = None
    lang: str | None = None  # language of the prompt itself (1.0 has en and zh)
    convert_to: str | None = None  # "markdown": the user wants the model's HTML tables as Markdown


@dataclass(frozen=True)
class ResolvedTask:
    """A task with its official prompt filled in, ready for the model."""

    task: str
    prompt: str
    output: str
    sampling: dict[str, Any] = field(default_factory=dict)
    convert_to: str | None = None


@dataclass(frozen=True)
class PromptSet:
    """One model version's tasks, defaults and clean-up thresholds."""

    version: str
    default_task: str
    sampling: dict[str, Any]
    cleanup_min_chars: int
    stream_loop_check: dict[str, int] | None
    tasks: dict[str, dict[str, str]]

    def official_task(self, words: str) -> TaskRequest | None:
        """The task whose official prompt these words are, verbatim (users paste them from the model card)."""
        for task, spec in self.tasks.items():
            for lang, template in spec.items():
                if lang != "output" and "{" not in template and template == words:
                    return TaskRequest(task, lang=lang)
        return None

    def resolve(self, request: TaskRequest) -> ResolvedTask:
        spec = self.tasks.get(request.task)
        if spec is None:
            raise UnknownTask(f"Unknown task {request.task!r}; this model knows {', '.join(sorted(self.tasks))}.")
        lang = request.lang if request.lang in spec else ("en" if "en" in spec else "zh")
        template = spec[lang]
        values: dict[str, str] = {}
        if "{language}" in template:
            try:
                target = resolve_language(request.target_lang or "en")
            except UnknownLanguage as error:
                raise UnknownTask(str(error), param="target_lang") from None
            values["language"] = target.english if lang == "en" else target.chinese
        if "{fields}" in template:
            if not request.fields:
                raise UnknownTask("The fields task needs a list of field names.")
            values["fields"] = str(list(request.fields))
        if "{key}" in template:
            if not request.key:
                raise UnknownTask("The field task needs the name of the field.")
            values["key"] = request.key
        convert_to = request.convert_to if spec["output"] == "html" else None
        return ResolvedTask(request.task, template.format(**values), spec["output"], dict(self.sampling), convert_to)


@cache
def load_prompt_set(version: str) -> PromptSet:
    """The prompt set for ``version`` ("1.0" or "1.5") from ``tasks.json``."""
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    if version not in data:
        raise UnknownTask(f"Unknown prompt set {version!r}; choose one of {', '.join(PROMPT_SETS)}.")
    entry = data[version]
    return PromptSet(
        version=version,
        default_task=entry["default_task"],
        sampling=entry["sampling"],
        cleanup_min_chars=entry["cleanup_min_chars"],
        stream_loop_check=entry.get("stream_loop_check"),
        tasks={name: {k: v for k, v in spec.items()} for name, spec in entry["tasks"].items()},
    )


def detect_prompt_set(model_config: dict[str, Any]) -> str:
    """1.5 takes images up to ~4096 px (1.0: 2048) — the loaded config tells which model this is.
    A model that is not HunyuanOCR (rapidocr) names the prompt set it answers in as ``prompt_set``."""
    if "prompt_set" in model_config:
        return str(model_config["prompt_set"])
    vision = model_config.get("vision_config") or {}
    return "1.5" if int(vision.get("max_image_size", 2048)) >= 4096 else "1.0"
