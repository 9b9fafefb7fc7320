"""Where a server's API process spends its CPU: py-spy's raw stacks → ms of CPU per request per component.

    python -m bench.profile_split STACKS.txt --requests 256 [--threads THREADS.json] [--rate 200] [--top 15]

``STACKS.txt`` is ``py-spy record --threads --nonblocking --format raw`` output (idle samples left out, one
process) over ``--requests`` requests; ``bench.frontend_cpu --profile DIR`` writes one per system, with
``THREADS.json``: each thread's CPU time over the same requests, from the OS. py-spy samples wall-clock time:
a thread that is ready to run but waits for a core (a busy machine, or more busy threads than cores) is
sampled as busy. So each thread's samples are scaled to its real CPU time, and threads with no Python stack
(ZMQ's, torch's) appear by their OS name: the table then adds up to the process's CPU time.

Each sample goes to the innermost frame that a rule below names (library code shared by several components,
such as pydantic, json or PIL, is named by its caller); stacks that only show the event loop or thread
plumbing count as "event loop". Prints ms of CPU per request per component and detail, per thread, then the
top functions (self and cumulative).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Frames the servers start in: a sample whose innermost named frame is one of these ran in uvloop's C code.
_ENTRY = (
    r"uvicorn/(server|_compat|main)\.py|gateway/(cli|server)\.py|vllm/entrypoints/launchers/|uvloop/__init__"
    r"|^<module> \(.*vllm/entrypoints/openai/api_server\.py"
)
# (component, detail, pattern over "function (path)") — the first rule, innermost frame first, that matches wins.
RULES: tuple[tuple[str, str, str], ...] = (
    # the servers' entry points: time in uvloop's C code (epoll, callbacks, socket I/O)
    ("event loop", "uvloop run loop", _ENTRY),
    # media: ours, then vLLM's server loading a data URL
    ("media", "our content hash", r"^RecentImages\.key \(.*gateway/media/"),
    ("media", "base64", r"^parse_data_url \(.*gateway/media/"),
    ("media", "conversation → turns, fetch", r"gateway/(conversation\.py|media/fetch\.py)"),
    ("media", "decode + resize", r"gateway/media/"),
    ("media", "vLLM image loading", r"vllm/multimodal/(media/|image\.py)"),
    # prompt / processor
    ("prompt/processor", "vLLM multimodal hashing", r"vllm/multimodal/hasher\.py"),
    ("prompt/processor", "vLLM processor cache", r"vllm/multimodal/(cache|processing/cache)"),
    ("prompt/processor", "HF image processor", r"transformers/(image_|models/.*image_processing)"),
    ("prompt/processor", "vLLM multimodal processor", r"vllm/multimodal/|vllm/model_executor/models/"),
    ("prompt/processor", "chat template (jinja)", r"jinja2/|chat_template_utils|<template>|vllm/renderers/hf\.py"),
    ("prompt/processor", "tokenizer", r"transformers/tokenization|tokenizers/|vllm/(transformers_utils|tokenizers)/"),
    ("prompt/processor", "HF processor (other)", r"transformers/(processing_utils|models/)"),
    ("SSE/streaming", "loop guard", r"prompts/postprocess\.py|^_looping \(.*gateway/chat\.py"),
    ("prompt/processor", "ours: task, prompt build", r"adapters/hunyuan_prompt\.py|gateway/tasks\.py|prompts/"),
    ("prompt/processor", "vLLM message parsing", r"vllm/renderers/chat_utils\.py"),
    (
        "prompt/processor",
        "vLLM renderer, input processor",
        r"vllm/v1/engine/input_processor|vllm/inputs/|vllm/renderers/",
    ),
    (
        "prompt/processor",
        "vLLM serving: preprocess",
        r"^OpenAIServingChat\.(render_chat_request|_create_chat_completion|create_chat_completion) \(",
    ),
    # engine client
    ("engine client", "detokenizer", r"vllm/v1/engine/(detokenizer|logprobs)\.py"),
    ("engine client", "output processor", r"vllm/v1/engine/output_processor\.py|vllm/outputs\.py"),
    ("engine client", "ZMQ + msgspec decode", r"vllm/v1/(serial_utils|engine/core_client)|zmq/|msgspec"),
    ("engine client", "AsyncLLM", r"vllm/v1/engine/|vllm/v1/metrics|vllm/sampling_params\.py|vllm/v1/request"),
    ("engine client", "our adapter", r"adapters/vllm_engine\.py"),
    # SSE / streaming
    ("SSE/streaming", "JSON encode of chunks", r"^_encoded \(.*gateway/streaming\.py"),
    ("SSE/streaming", "sse-starlette", r"sse_starlette/"),
    ("SSE/streaming", "ours: chunks (chat.py), streaming, deadline", r"gateway/(chat|streaming|deadline)\.py"),
    ("SSE/streaming", "vLLM stream generator", r"^OpenAIServingChat\.chat_completion_stream_generator \("),
    # logging, metrics
    ("logging/metrics", "logging", r"logging/|gateway/middleware/request_log\.py|uvicorn/logging|vllm/logger"),
    ("logging/metrics", "metrics", r"gateway/metrics\.py|prometheus|instrumentator"),
    # HTTP / JSON
    ("HTTP/JSON", "request edge: read, parse, validate", r"gateway/edge\.py"),
    ("HTTP/JSON", "ours: middleware, admission, routes", r"gateway/"),
    ("HTTP/JSON", "uvicorn", r"uvicorn/|httptools|h11/"),
    ("HTTP/JSON", "starlette / fastapi", r"starlette/|fastapi/"),
    ("HTTP/JSON", "vLLM server (other)", r"vllm/entrypoints/"),
)
# Plumbing that does no work of its own: a stack that shows nothing else is the event loop's own time.
FALLBACK: tuple[tuple[str, str, str], ...] = (
    ("event loop", "asyncio / anyio plumbing", r"asyncio/|selectors\.py|anyio/"),
    ("event loop", "thread pools", r"threading\.py|concurrent/futures"),
)
COMPONENTS = (
    "HTTP/JSON",
    "media",
    "prompt/processor",
    "engine client",
    "SSE/streaming",
    "logging/metrics",
    "event loop",
    "native threads",
    "other",
)
_COMPILED = [(component, detail, re.compile(pattern)) for component, detail, pattern in RULES]
_FALLBACK = [(component, detail, re.compile(pattern)) for component, detail, pattern in FALLBACK]
_LINE = re.compile(r":\d+\)$")
_PREFIX = re.compile(r"^.*?(site-packages|python3\.\d+)/")
_THREAD = re.compile(r"^thread \((\d+)\)(?:: (.*))?$")

Stacks = Counter[tuple[str, tuple[str, ...]]]  # (thread id, frames outermost first) → samples


@dataclass(frozen=True)
class Split:
    """One profile, per request: ms of CPU per (component, detail), per thread, and the top functions."""

    requests: int
    scaled: bool  # scaled per thread to the OS's CPU time (else: raw samples)
    ms: dict[tuple[str, str], float]
    on_loop: dict[tuple[str, str], float]  # the part of ``ms`` spent on the event loop's thread (MainThread)
    threads: list[tuple[str, float, float]]  # (thread, CPU ms, sampled ms) per request
    top_self: list[tuple[str, float]]
    top_cumulative: list[tuple[str, float]]

    @property
    def total(self) -> float:
        return sum(self.ms.values())

    def component(self, name: str, on_loop: bool = False) -> float:
        values = self.on_loop if on_loop else self.ms
        return sum(ms for (component, _), ms in values.items() if component == name)

    def as_dict(self) -> dict[str, Any]:
        components = {name: round(self.component(name), 2) for name in COMPONENTS}
        on_loop = {name: round(self.component(name, on_loop=True), 2) for name in COMPONENTS}
        details = {f"{component}: {detail}": round(ms, 2) for (component, detail), ms in self.ms.items()}
        return {
            "scaled": self.scaled,
            "components": components,
            "on_event_loop_thread": on_loop,
            "details": details,
            "total": round(self.total, 2),
        }


def frame_name(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py)``."""
    function, _, path = _LINE.sub(")", frame).partition(" (")
    return f"{function} ({_PREFIX.sub('', path)}"


def classify(frames: tuple[str, ...]) -> tuple[str, str]:
    """The component of one stack (frames outermost first)."""
    for rules in (_COMPILED, _FALLBACK):
        for frame in reversed(frames):
            for component, detail, pattern in rules:
                if pattern.search(frame):
                    return component, detail
    return "other", frames[-1] if frames else "?"


def parse(raw: str) -> tuple[Stacks, dict[str, str]]:
    """py-spy raw lines (``[thread (tid): name;]frame;frame;… count``) → samples per (thread, stack), and the
    threads' Python names."""
    stacks: Stacks = Counter()
    names: dict[str, str] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = ""
        if match := _THREAD.match(frames[0]):
            thread, frames = match.group(1), frames[1:]
            names[thread] = match.group(2) or thread
        # A thread sampled outside any Python frame (starting or ending) has only its own name.
        stacks[thread, tuple(frame_name(frame) for frame in frames) or ("(no Python frame)",)] += int(count)
    return stacks, names


def split(
    raw: str, requests: int, rate: float, thread_cpu: dict[str, dict[str, Any]] | None = None, top: int = 15
) -> Split:
    """``thread_cpu``: thread id → ``{"name": OS name, "cpu_ms": CPU ms over the requests}``."""
    stacks, names = parse(raw)
    sample_ms = 1000 / rate
    sampled: defaultdict[str, float] = defaultdict(float)
    for (thread, _), count in stacks.items():
        sampled[thread] += count * sample_ms
    cpu = {tid: float(entry["cpu_ms"]) for tid, entry in (thread_cpu or {}).items()}
    weight = {tid: cpu[tid] / ms if tid in cpu else 1.0 for tid, ms in sampled.items()}
    components: defaultdict[tuple[str, str], float] = defaultdict(float)
    on_loop: defaultdict[tuple[str, str], float] = defaultdict(float)
    own: defaultdict[str, float] = defaultdict(float)
    cumulative: defaultdict[str, float] = defaultdict(float)
    for (thread, frames), count in stacks.items():
        ms = count * sample_ms * weight[thread] / requests
        component = classify(frames)
        components[component] += ms
        if names.get(thread) == "MainThread":
            on_loop[component] += ms
        own[frames[-1]] += ms
        for name in set(frames):
            cumulative[name] += ms
    threads = [(names.get(tid, "(all)"), cpu.get(tid, ms) / requests, ms / requests) for tid, ms in sampled.items()]
    for tid, ms in cpu.items():
        if tid not in sampled and ms > 0:
            name = f"{(thread_cpu or {})[tid]['name']} ({tid})"
            components["native threads", name] += ms / requests
            threads.append((name, ms / requests, 0.0))
    return Split(
        requests,
        thread_cpu is not None,
        dict(components),
        dict(on_loop),
        sorted(threads, key=lambda row: -row[1]),
        _largest(own, top),
        _largest(cumulative, top),
    )


def _largest(values: dict[str, float], count: int) -> list[tuple[str, float]]:
    return sorted(values.items(), key=lambda item: -item[1])[:count]


def print_split(profile: Split) -> None:
    how = "samples scaled per thread to its CPU time" if profile.scaled else "raw samples, not scaled"
    print(f"  ms CPU per request ({how}); second column: the part on the event loop's thread")
    for component in COMPONENTS:
        if value := profile.component(component):
            print(f"  {component:64s} {value:6.2f} {profile.component(component, on_loop=True):6.2f}")
            details = [(d, ms) for (c, d), ms in profile.ms.items() if c == component and ms >= 0.05]
            for detail, detail_ms in sorted(details, key=lambda item: -item[1]):
                print(f"    {detail[:60]:60s} {detail_ms:6.2f} {profile.on_loop.get((component, detail), 0.0):6.2f}")
    print(f"  {'total':64s} {profile.total:6.2f} {sum(profile.on_loop.values()):6.2f}")
    print("  threads (ms per request: CPU from the OS, py-spy's samples):")
    for name, cpu_ms, sampled_ms in profile.threads:
        if cpu_ms >= 0.05 or sampled_ms >= 0.05:
            print(f"    {name[:50]:50s} {cpu_ms:7.2f} {sampled_ms:7.2f}")
    for title, rows in (("self", profile.top_self), ("cumulative", profile.top_cumulative)):
        print(f"  top functions ({title}, ms CPU/request):")
        for name, value in rows:
            print(f"    {value:6.2f}  {name[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--threads", type=Path, default=None, help="each thread's CPU time (frontend_cpu writes it)")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--top", type=int, default=15)
    options = parser.parse_args()
    thread_cpu = json.loads(options.threads.read_text()) if options.threads else None
    print_split(split(options.stacks.read_text(), options.requests, options.rate, thread_cpu, options.top))


if __name__ == "__main__":
    main()
