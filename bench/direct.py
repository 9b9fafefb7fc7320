"""The ceiling for any gateway: vLLM's ``AsyncLLM`` driven in this process, with the requests of ``bench.compare``.

    python -m bench.direct PLAN.json RESULT.json

Same engine arguments as the gateway (``adapters.vllm_engine.engine_args``), same prompt (the checkpoint's chat
template), same load generator. Each request's clock starts before its image is decoded, as a server's would.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.engine import Turn
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from adapters.vllm_engine import engine_args
from adapters.vllm_sockets import close_socket_dir, open_socket_dir
from bench.load import Sample, run_plan
from bench.workload import FOLLOW_UP, INSTRUCTION, MAX_TOKENS, ImageKind, Workload
from gateway.config import EngineSettings


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return image.convert("RGB")


class DirectClient:
    def __init__(self, llm: Any, prompts: HunyuanPromptBuilder, workload: Workload) -> None:
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        self._llm, self._prompts, self._workload = llm, prompts, workload
        self._params = SamplingParams(
            temperature=0.0,
            max_tokens=MAX_TOKENS,
            stop_token_ids=prompts.stop_token_ids,
            output_kind=RequestOutputKind.DELTA,
        )

    async def ask(self, kind: ImageKind, index: int, answer: str | None = None) -> tuple[Sample, str]:
        started = time.perf_counter()
        image = await asyncio.to_thread(_decode, self._workload.image_bytes(kind, index))
        turns = [Turn("user", [image, INSTRUCTION])]
        if answer is not None:
            turns += [Turn("assistant", [answer]), Turn("user", [FOLLOW_UP])]
        prompt = self._prompts.build(turns)
        request = {"prompt": prompt.text, "multi_modal_data": {"image": prompt.images}}
        first, text, tokens, prompt_tokens, cached = None, [], 0, 0, 0
        async for output in self._llm.generate(request, self._params, request_id=uuid.uuid4().hex):
            completion = output.outputs[0]
            if first is None and completion.text:
                first = time.perf_counter()
            text.append(completion.text)
            tokens += len(completion.token_ids)
            prompt_tokens = len(output.prompt_token_ids or [])
            cached = output.num_cached_tokens or 0
        ended = time.perf_counter()
        reply = "".join(text)
        return Sample((first or ended) - started, ended - started, tokens, prompt_tokens, cached, reply), reply


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    from vllm.v1.engine.async_llm import AsyncLLM

    settings = EngineSettings(**plan["engine"])
    socket_dir = open_socket_dir()  # vLLM's IPC sockets, removed after (as the gateway's engine does)
    llm = AsyncLLM.from_engine_args(engine_args(settings, settings.model))
    try:
        client = DirectClient(
            llm, HunyuanPromptBuilder(settings.model), Workload(Path(plan["photo_dir"]), plan["photos"])
        )
        return await run_plan(plan, client.ask)
    finally:
        llm.shutdown()
        close_socket_dir(socket_dir)


if __name__ == "__main__":
    plan_path, result_path = map(Path, sys.argv[1:3])
    result = asyncio.run(run(json.loads(plan_path.read_text())))
    result_path.write_text(json.dumps(result))
