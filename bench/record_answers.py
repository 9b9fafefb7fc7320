"""Records raw HunyuanOCR answers for the corpus (``tests/real_answers``): every image of a folder, every task.

    python -m bench.record_answers IMAGES_DIR --url http://127.0.0.1:8000 [--api-key K] [--tasks text,document]
        [--out tests/real_answers] [--max-tokens N] [--dtype bfloat16] [--overwrite]

Raw means the model's own words. Each answer is asked for through the chat API with ``task: "none"`` and the
task's official prompt as the gateway resolves it (``GET /v1/tasks/{task}``), after the image as the gateway puts
it: the model sees what a task request sends it, and the gateway leaves the answer alone (no unwrapping, no
Markdown tables, no blanking of a non-answer, no boxes as JSON). ``task`` left unset would not do: the gateway
recognises an official prompt verbatim and runs that task; ``POST /ocr`` always runs a task. The answer is
streamed, so a repeating tail is not trimmed either; what remains is the gateway's loop guard, which stops
generation once the tail keeps repeating (the file's notes then say so).

Tasks: all of the gateway's prompt set but ``field`` (it needs a key the image may not have; name it in
``--tasks`` to ask for "total"); ``fields`` asks for date and total, ``translate`` into English. One JSON file per
image and task, named by its id (prompt set, engine, image name and digest, task), never overwritten without
``--overwrite``. The gateway does not report its dtype: pass what it was started with as ``--dtype``. PDFs are
skipped (render the pages you want as images).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
MIME_TYPES |= {".tif": "image/tiff", ".tiff": "image/tiff", ".bmp": "image/bmp"}
ARGUMENTS: dict[str, dict[str, Any]] = {
    "fields": {"fields": ["date", "total"]},
    "field": {"fields": ["total"]},
    "translate": {"target_lang": "English"},
}
NOT_BY_DEFAULT = ("field",)
NOT_THE_MODEL = ("rapidocr", "fixed-latency")  # engines that do not run HunyuanOCR: nothing to record
TIMEOUT = httpx.Timeout(600.0, connect=10.0)  # one long page on a slow GPU


class RecordingFailed(Exception):
    """The gateway refused or broke off one request."""


@dataclass(frozen=True)
class Server:
    """What the gateway serves: its prompt set ("1.0" or "1.5"), its tasks and its engine."""

    prompt_set: str
    tasks: list[str]
    engine: str | None


@dataclass(frozen=True)
class Answer:
    """The model's text as streamed, how it finished, and whether the loop guard stopped it."""

    text: str
    finish_reason: str | None
    loop_stopped: bool


@dataclass(frozen=True)
class Picture:
    """One image file: its digest (sha256, hex) and its size in pixels."""

    path: Path
    digest: str
    size: tuple[int, int]


def server_info(client: httpx.Client) -> Server:
    """The gateway's prompt set and tasks (``GET /v1/tasks``) and engine (``GET /v1/models``)."""
    catalog = _checked(client.get("/v1/tasks")).json()
    (card,) = _checked(client.get("/v1/models")).json()["data"]
    return Server(catalog["prompt_set"], [task["id"] for task in catalog["data"]], card.get("engine"))


def chosen_tasks(server: Server, wanted: str | None) -> list[str]:
    """``--tasks`` in the gateway's order, or every task but those that need an argument of the image's own."""
    if wanted is None:
        return [task for task in server.tasks if task not in NOT_BY_DEFAULT]
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    if unknown := sorted(set(names) - set(server.tasks)):
        raise RecordingFailed(f"unknown tasks {', '.join(unknown)}; the gateway has {', '.join(server.tasks)}")
    return [task for task in server.tasks if task in names]


def official_prompt(client: httpx.Client, task: str) -> str:
    """The words a request for ``task`` sends the model, with this script's arguments for the task."""
    prompt: str = _checked(client.get(f"/v1/tasks/{task}", params=ARGUMENTS.get(task, {}))).json()["prompt"]
    return prompt


def ask(client: httpx.Client, image: Path, prompt: str, max_tokens: int | None) -> Answer:
    """The model's answer to ``prompt`` about ``image``, streamed as the gateway passes it on."""
    url = f"data:{MIME_TYPES[image.suffix.lower()]};base64,{base64.b64encode(image.read_bytes()).decode()}"
    # The image before the words, as the gateway places them for a task.
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": prompt}]
    body: dict[str, Any] = {"messages": [{"role": "user", "content": content}], "task": "none", "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.is_error:
            response.read()
        return streamed_answer(_checked(response))


def streamed_answer(response: httpx.Response) -> Answer:
    """A chat stream's first choice, whole; an error event after the stream started is raised."""
    pieces, finish, looped = [], None, False
    for line in response.iter_lines():
        data = line.removeprefix("data:").strip()
        if not line.startswith("data:") or data == "[DONE]":
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            raise RecordingFailed(chunk["error"]["message"])
        for choice in chunk["choices"]:
            pieces.append(choice["delta"].get("content") or "")
            finish = choice.get("finish_reason") or finish
        looped = looped or bool((chunk.get("ocr") or {}).get("loop_truncated"))
    return Answer("".join(pieces), finish, looped)


def picture(path: Path) -> Picture:
    """``path`` read once for its digest and size."""
    with Image.open(path) as image:
        size = image.size
    return Picture(path, hashlib.sha256(path.read_bytes()).hexdigest(), size)


def record_id(server: Server, image: Picture, task: str) -> str:
    """``v15-rec-vllm-receipt-3f2a9c1b-text``: stable for one image, task, prompt set and engine."""
    slug = re.sub(r"[^a-z0-9]+", "-", image.path.stem.lower()).strip("-")[:40] or "image"
    version = server.prompt_set.replace(".", "")
    return f"v{version}-rec-{server.engine or 'engine'}-{slug}-{image.digest[:8]}-{task}"


def notes(server: Server, answer: Answer, dtype: str | None, max_tokens: int | None) -> str:
    """How the answer was recorded: engine, dtype, date, route, how it ended."""
    said = [
        f"engine {server.engine or 'not reported'}, dtype {dtype or 'not reported'}, "
        f"recorded {datetime.date.today().isoformat()} by bench/record_answers.py",
        "chat API with task \"none\" and the official prompt: the model's own words, not the gateway's clean-up",
        f"finish_reason {answer.finish_reason}" + (f" (max_tokens {max_tokens})" if max_tokens else ""),
    ]
    if answer.loop_stopped:
        said.append("the gateway's loop guard stopped generation: the answer ends in its repeating tail")
    return "; ".join(said) + "."


def corpus_entry(server: Server, image: Picture, task: str, prompt: str, answer: Answer, notes: str) -> dict[str, Any]:
    """One answer in the corpus format of ``tests/real_answers`` (``tests.corpus.RealAnswer``)."""
    return {
        "id": record_id(server, image, task),
        "source": f"recorded by bench/record_answers.py from {image.path.name} (sha256 {image.digest[:12]})",
        "model": server.prompt_set,
        "task": task,
        "prompt": prompt,
        "image_size": list(image.size),
        "engine": server.engine,
        "answer": answer.text,
        "excerpt": False,
        "notes": notes,
    }


def record_folder(client: httpx.Client, args: argparse.Namespace) -> int:
    """Every (image, task) not recorded yet; 1 when some request failed (each is printed)."""
    server = server_info(client)
    if server.engine in NOT_THE_MODEL:
        raise RecordingFailed(f"the gateway runs --engine {server.engine}, not HunyuanOCR: nothing to record")
    if not args.images.is_dir():
        raise RecordingFailed(f"{args.images} is not a folder")
    prompts = {task: official_prompt(client, task) for task in chosen_tasks(server, args.tasks)}
    paths = sorted(path for path in args.images.rglob("*") if path.suffix.lower() in MIME_TYPES)
    print(f"{len(paths)} images × {len(prompts)} tasks, prompt set {server.prompt_set}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for image in map(picture, paths):
        for task, prompt in prompts.items():
            path = args.out / f"{record_id(server, image, task)}.json"
            if path.exists() and not args.overwrite:
                continue
            try:
                answer = ask(client, image.path, prompt, args.max_tokens)
            except (RecordingFailed, httpx.HTTPError) as error:
                print(f"failed: {image.path.name} {task}: {error}", file=sys.stderr)
                failed += 1
                continue
            said = notes(server, answer, args.dtype, args.max_tokens)
            entry = corpus_entry(server, image, task, prompt, answer, said)
            path.write_text(json.dumps(entry, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            print(f"{path}: {len(answer.text)} characters, finish_reason {answer.finish_reason}", flush=True)
    return 1 if failed else 0


def _checked(response: httpx.Response) -> httpx.Response:
    """``response`` if it succeeded; else its error message, raised."""
    if not response.is_error:
        return response
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    raise RecordingFailed(f"{response.request.url.path}: HTTP {response.status_code}: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images (searched recursively)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--api-key", help="the gateway's API key, if it has one")
    parser.add_argument("--tasks", help="comma-separated tasks (default: all but field)")
    parser.add_argument("--out", type=Path, default=Path("tests/real_answers"), help="where the JSON files go")
    parser.add_argument("--max-tokens", type=int, help="cap each answer (default: the gateway's)")
    parser.add_argument("--dtype", help="the dtype the gateway was started with, for the notes")
    parser.add_argument("--overwrite", action="store_true", help="replace files already recorded")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=TIMEOUT) as client:
        try:
            return record_folder(client, args)
        except (RecordingFailed, httpx.HTTPError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
