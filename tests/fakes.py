"""A fake engine that honours the ``Engine`` protocol, for unit tests of the HTTP layer."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from prometheus_client.registry import Collector

from adapters.engine import ChoiceDelta, EngineInfo, EngineOutput, EngineRequest, EngineStats
from adapters.errors import EngineFault


@dataclass
class FakeEngine:
    """Answers with words derived from the prompt; can be told to fail before or during a stream."""

    words_per_choice: int = 4
    fail_before_output: EngineFault | None = None
    fail_after_words: tuple[int, Exception] | None = None
    requests: list[EngineRequest] = field(default_factory=list)
    reply: str | None = None  # answer with this text (in pieces of 5 characters) instead of hashes
    replies: dict[str, str] = field(default_factory=dict)  # per task, as ``reply``
    parses_layout: bool = True
    started: bool = False
    self_healing: bool = False
    collectors: list[Collector] = field(default_factory=list)  # what metric_collectors() gives /metrics
    start_delay: float = 0.0  # seconds start() takes (the model loading)
    delay: float = 0.0  # seconds before each answer starts

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_path="/models/fake", max_model_len=1024, parses_layout=self.parses_layout)

    async def start(self) -> None:
        await asyncio.sleep(self.start_delay)
        self.started = True

    async def shutdown(self) -> None:
        self.started = False

    def is_healthy(self) -> bool:
        return self.started

    def num_unfinished_requests(self) -> int:
        return 0

    def stats(self) -> EngineStats:
        return EngineStats()

    def metric_collectors(self) -> list[Collector]:
        return self.collectors

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if self.fail_before_output is not None:
            raise self.fail_before_output
        prompt_tokens = len(request.prompt)
        reply = self.replies.get(request.task or "", self.reply)
        pieces = [reply[i : i + 5] for i in range(0, len(reply), 5)] if reply else None
        limit = (
            len(pieces) if pieces else min(self.words_per_choice, request.sampling.max_tokens or self.words_per_choice)
        )
        for step in range(limit):
            if self.fail_after_words and step == self.fail_after_words[0]:
                raise self.fail_after_words[1]
            last = step == limit - 1
            yield EngineOutput(
                prompt_tokens=prompt_tokens,
                choices=[
                    ChoiceDelta(
                        index=index,
                        text=pieces[step] if pieces else self.word(request, index, step),
                        num_tokens=1,
                        finish_reason="length" if last else None,
                    )
                    for index in range(request.sampling.n)
                ],
            )

    @staticmethod
    def word(request: EngineRequest, index: int, step: int) -> str:
        return hashlib.sha256(f"{request.prompt}|{index}|{step}".encode()).hexdigest()[:5] + " "
