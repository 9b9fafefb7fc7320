"""The docs' shell snippets that only talk HTTP to the gateway run as written against a real one (``--engine
rapidocr``, the suite's cheapest engine, already started for other tests), on files named as the snippet names
them; tests/test_docs_snippets.py checks every block without running it.

A block runs when each of its commands is ``curl`` or a helper that feeds it (``RUNNABLE``) and it holds no
placeholder (``...``/``…``); ``127.0.0.1:8000``/``localhost:8000`` become the test gateway's address. curl is told,
by a ``.curlrc`` the snippet does not see, to fail on an HTTP error, so a snippet the gateway refuses fails here.
The block runs as one script (``bash -e``) without the lines asking a task RapidOCR does not do (``task=table``):
they need the HunyuanOCR model, which the suite has only as a tiny checkpoint that would write to its length limit.
A request an earlier block sent already (a searchable PDF takes ~8 s) is not sent again.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from adapters.rapidocr_engine import READ_TASKS
from tests.images import encode, make_image, make_pdf
from tests.test_docs_commands import logical_lines, simple_commands, without_assignments
from tests.test_docs_snippets import BLOCKS, Block

pytestmark = pytest.mark.integration

RUNNABLE = {"curl", "base64", "printf", "python3"}
LOCAL_GATEWAY = re.compile(r"http://(?:127\.0\.0\.1|localhost):8000")
RAPIDOCR_TASKS = READ_TASKS | {"spotting"}
SENT: set[tuple[str, ...]] = set()  # the requests run so far, as ``request()`` gives them
INPUT = re.compile(r"(?:@|base64 -w0 )([\w.-]+\.(?:png|jpg|pdf))\b")


def command_names(block: Block) -> set[str]:
    commands = (without_assignments(words) for words in simple_commands(block.text))
    return {words[0] for words in commands if words}


def runnable(block: Block) -> bool:
    names = command_names(block)
    placeholder = "..." in block.text or "…" in block.text
    return block.language == "bash" and "curl" in names and names <= RUNNABLE and not placeholder


RUNNABLE_BLOCKS = [block for block in BLOCKS if runnable(block)]


def request(line: str) -> tuple[str, ...]:
    """The line's words in order, with where curl writes the answer (``-o FILE``) left out."""
    words = [word for command in simple_commands(line) for word in command]
    outputs = {index + 1 for index, word in enumerate(words) if word in {"-o", "--output"}}
    return tuple(word for index, word in enumerate(words) if word not in {"-o", "--output"} and index not in outputs)


def needs_the_model(line: str) -> bool:
    return any(task not in RAPIDOCR_TASKS for task in re.findall(r"\btask=(\w+)", line))


def write_inputs(line: str, folder: Path) -> None:
    """The images and PDFs the line reads (``@scan.png``, ``base64 -w0 scan.pdf``); a PDF has one page, or as
    many as a Mistral request's ``"pages": [0, 2]`` asks."""
    asked = re.search(r'"pages": \[([\d, ]+)\]', line)
    pages = 1 + max(map(int, asked[1].split(","))) if asked else 1
    for name in set(INPUT.findall(line)):
        image = make_image(320, 200, seed=len(name))
        if name.endswith(".pdf"):
            data = make_pdf([image] * pages)
        else:
            data = encode(image, "JPEG" if name.endswith(".jpg") else "PNG")
        (folder / name).write_bytes(data)


def test_some_snippets_run() -> None:
    assert {block.page for block in RUNNABLE_BLOCKS} >= {"docs/get-started.md", "docs/use/ocr-api.md"}


@pytest.mark.parametrize("block", RUNNABLE_BLOCKS, ids=str)
def test_snippet_runs_against_the_gateway(block: Block, rapidocr_root: str, tmp_path: Path) -> None:
    (tmp_path / ".curlrc").write_text("--fail-with-body\n--silent\n--show-error\n--max-time 120\n")
    env = {**os.environ, "CURL_HOME": str(tmp_path), "KEY": "sk-unused"}
    lines = [line for line in logical_lines(block.text) if not needs_the_model(line) and request(line) not in SENT]
    if not lines:
        pytest.skip("every line was sent by an earlier block, or asks a task only the HunyuanOCR model does")
    script = "".join(lines)
    write_inputs(script, tmp_path)
    inputs = set(tmp_path.iterdir())
    command = ["bash", "-e", "-o", "pipefail", "-c", LOCAL_GATEWAY.sub(rapidocr_root, script)]
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=600)
    assert ran.returncode == 0, ran.stderr.decode()[-2000:] + ran.stdout.decode(errors="replace")[-2000:]
    SENT.update(map(request, lines))
    assert ran.stdout.strip() or set(tmp_path.iterdir()) - inputs, "the snippet printed nothing and wrote nothing"
