"""Smoke test of bench/record_answers.py against the real app on a fake engine (served on a private 127.0.0.1
port): one file per task in the corpus format, the fake's words as they were written (no clean-up by the gateway),
and nothing asked for or overwritten a second time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from PIL import Image

from adapters.engine import EngineOutput, EngineRequest
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from bench.record_answers import main
from gateway.app import build_app
from gateway.cli.folder import serving
from gateway.config import Settings
from prompts.catalog import load_prompt_set
from tests.corpus import RealAnswer
from tests.fakes import FakeEngine
from tests.images import encode, make_image

PROMPT_SET = load_prompt_set("1.5")
# Answers the gateway would rewrite if it ran them as tasks: a fenced JSON, an HTML table, a non-answer.
REPLIES = {
    "fields": '```json\n{"date": "2026-12-01", "total": "12.50"}\n```',
    "table": "<table><tr><td>Part</td><td>Count</td></tr></table>",
    "formula": "图片中没有文字。",
}


@dataclass
class PromptReadingEngine(FakeEngine):
    """Replies per task, telling the task from the official prompt in the request (which carries no task)."""

    asked: list[EngineRequest] = field(default_factory=list)  # the requests as they came

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        self.asked.append(request)
        async for output in super().generate(replace(request, task=task_of(request.prompt))):
            yield output


def task_of(prompt: str) -> str:
    """The task whose official wording (up to its first argument) is the longest found in ``prompt``."""
    found = [
        (len(template.split("{")[0]), task)
        for task, spec in PROMPT_SET.tasks.items()
        for key, template in spec.items()
        if key != "output" and template.split("{")[0] in prompt
    ]
    return max(found)[1]


def reply(task: str) -> str:
    return REPLIES.get(task, f"{task} answer")


def record(tmp_path: Path, prompts: HunyuanPromptBuilder, engine: FakeEngine, *argv: str) -> int:
    """``python -m bench.record_answers`` against the app on ``engine``, in a thread beside the server."""
    app = build_app(
        Settings(served_model_name="fake-ocr", prompt_set="1.5"), engine, prompts, on_engine_failure=lambda: None
    )

    async def scenario() -> int:
        async with serving(app) as url:
            assert url is not None
            images, out = str(tmp_path / "images"), str(tmp_path / "out")
            return await asyncio.to_thread(main, [images, "--url", url, "--out", out, "--dtype", "float32", *argv])

    return asyncio.run(scenario())


@pytest.fixture
def images(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "Receipt Scan.png").write_bytes(encode(make_image(64, 48, seed=1)))
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    return tmp_path / "images"


@pytest.mark.usefixtures("images")
def test_records_the_model_s_own_answer_for_every_task_as_corpus_files(
    prompts: HunyuanPromptBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = PromptReadingEngine(replies={task: reply(task) for task in PROMPT_SET.tasks})
    assert record(tmp_path, prompts, engine) == 0
    written = sorted((tmp_path / "out").glob("*.json"))
    tasks = [task for task in PROMPT_SET.tasks if task != "field"]
    assert len(written) == len(tasks) and len(capsys.readouterr().out.splitlines()) == len(tasks)
    entries = {entry.task: entry for entry in (RealAnswer(**json.loads(path.read_text())) for path in written)}
    assert sorted(entries) == sorted(tasks)
    assert all(request.task is None for request in engine.asked)  # the user's words, not a task run
    # The image before the words, as a task request puts them.
    assert all(isinstance(request.turns[-1].parts[0], Image.Image) for request in engine.asked)
    for task, entry in entries.items():
        assert entry.answer == reply(task)
        assert any(str(entry.prompt) in request.prompt for request in engine.asked)
        assert (entry.model, entry.image_size, entry.engine, entry.excerpt) == ("1.5", [64, 48], None, False)
        assert entry.id.startswith("v15-rec-engine-receipt-scan-") and entry.id.endswith(f"-{task}")
        assert entry.source.startswith("recorded by bench/record_answers.py from Receipt Scan.png (sha256 ")
        assert "dtype float32" in entry.notes and "finish_reason length" in entry.notes
    assert "'date', 'total'" in str(entries["fields"].prompt) and "英文" in str(entries["translate"].prompt)


@pytest.mark.usefixtures("images")
def test_a_second_run_asks_nothing_and_overwrites_nothing(
    prompts: HunyuanPromptBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(tmp_path, prompts, PromptReadingEngine(reply="first"), "--tasks", "text,table") == 0
    again = PromptReadingEngine(reply="second")
    assert record(tmp_path, prompts, again, "--tasks", "text,table") == 0
    assert not again.asked
    assert {json.loads(path.read_text())["answer"] for path in (tmp_path / "out").glob("*.json")} == {"first"}
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert record(tmp_path, prompts, again, "--tasks", "text", "--overwrite") == 0
    assert sorted(json.loads(path.read_text())["answer"] for path in (tmp_path / "out").glob("*.json")) == [
        "first",
        "second",
    ]
