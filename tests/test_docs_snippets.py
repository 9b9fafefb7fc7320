"""Every fenced code block of README.md and docs/ is checked by its language, so a snippet that stops matching the
code fails here rather than in a reader's terminal.

- ``bash``/``sh`` pass ``bash -n``, and each command is checked as tests/test_docs_commands.py says (the CLI
  parser, the Makefile, the OpenAPI document, a module's own parser); ``console``: the lines after a ``$ `` prompt
  are the commands, the rest is output.
- ``json`` parses with ``json.loads``; a placeholder goes inside a string (``"sk-your-key"``, ``"data:…,..."``),
  never bare. An object with ``command`` and ``args`` (an MCP client's config) is checked as that command.
- ``python`` parses with ``ast.parse``; every imported module is installed (or listed in ``ELSEWHERE``); imports
  from this repository name attributes that exist, and calls of what they import bind to the callee's signature.
- ``yaml`` with ``yaml.safe_load_all``, ``toml`` with ``tomllib``, ``javascript``/``js`` with ``node --check``.
- ``text`` is not checked; any other language, or none, fails ``test_every_code_block_has_a_checked_language``.

Inline code that is a whole command of ours (``python -m bench.soak``, ``make docs``) is checked too, its flags
against the parser but not its required arguments: prose names a command without spelling out a run.
tests/integration/test_docs_snippets_run.py runs the blocks that only talk HTTP against a real gateway.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_docs_commands import (
    PROJECT_PACKAGES,
    REFUSALS,
    ROOT,
    check_command,
    check_inline_command,
    check_shell,
    module_exists,
)

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<language>[^\s`{]*)")
# Modules snippets import that this virtualenv does not hold, and where they live instead.
ELSEWHERE = {"langchain_paddleocr": "PaddleOCR's own virtualenv (the Makefile's PADDLEOCR_MCP_VENV)"}


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it opens, its language (lowercase, "" when none) and its text."""

    page: str
    line: int
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def code_blocks(path: Path) -> Iterator[Block]:
    """The page's fenced blocks, indented ones (in lists and admonitions) unindented."""
    opening: tuple[int, re.Match[str]] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if opening is None:
            if match := FENCE.match(line):
                opening, body = (number, match), []
            continue
        start, match = opening
        fence = match["fence"]
        if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
            page = str(path.relative_to(ROOT))
            yield Block(page, start, match["language"].lower(), "\n".join(body) + "\n")
            opening = None
        else:
            body.append(line[len(match["indent"]) :])
    assert opening is None, f"{path}: a code block opened on line {opening[0]} never closes"


BLOCKS = [block for page in PAGES for block in code_blocks(page)]


def check_json(text: str) -> None:
    check_mcp_commands(json.loads(text))


def check_mcp_commands(value: object) -> None:
    """An MCP client's ``{"command": …, "args": […]}`` is a command line: check it as one."""
    if isinstance(value, dict):
        if isinstance(value.get("command"), str):
            check_command([value["command"], *value.get("args", [])])
        for item in value.values():
            check_mcp_commands(item)


def check_python(text: str) -> None:
    tree = ast.parse(text)
    imported: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module_exists(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            check_module_exists(node.module)
            if node.module.partition(".")[0] in PROJECT_PACKAGES:
                imported |= project_names(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
            check_call(imported[node.func.id], node)


def check_module_exists(name: str) -> None:
    """``ELSEWHERE`` says where the modules this virtualenv lacks live."""
    if name.partition(".")[0] not in ELSEWHERE:
        assert module_exists(name), f"import {name}: no such module here, nor listed in ELSEWHERE"


def project_names(node: ast.ImportFrom) -> dict[str, Any]:
    """What ``from <this repository's module> import …`` binds, each name checked to exist."""
    module = importlib.import_module(str(node.module))
    missing = [alias.name for alias in node.names if not hasattr(module, alias.name)]
    assert missing == [], f"from {node.module} import {', '.join(missing)}: no such name"
    return {alias.asname or alias.name: getattr(module, alias.name) for alias in node.names}


def check_call(callee: Any, call: ast.Call) -> None:
    """The call's positional count and keyword names fit the callee's signature (values are not checked)."""
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(k.arg is None for k in call.keywords):
        return
    keywords = {keyword.arg: None for keyword in call.keywords if keyword.arg}
    try:
        inspect.signature(callee).bind(*[None] * len(call.args), **keywords)
    except TypeError as error:
        raise AssertionError(f"{ast.unparse(call)}: {error}") from error


def check_console(text: str) -> None:
    commands = [line.removeprefix("$ ") for line in text.splitlines() if line.startswith("$ ")]
    check_shell("\n".join(commands) + "\n")


def no_check(text: str) -> None:
    """Output and prose-like listings: ``text`` is the language that says a block is not to be run."""


def check_yaml(text: str) -> None:
    assert list(yaml.safe_load_all(text))


def check_toml(text: str) -> None:
    tomllib.loads(text)


def check_javascript(text: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed: `make system-deps` installs it")
        pytest.skip("node is not installed")
    script = tmp_path / "snippet.mjs"
    script.write_text(text)
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


LANGUAGES: dict[str, Callable[[str], None]] = {
    "bash": check_shell,
    "console": check_console,
    "json": check_json,
    "python": check_python,
    "sh": check_shell,
    "text": no_check,
    "toml": check_toml,
    "yaml": check_yaml,
    "yml": check_yaml,
}
NODE_LANGUAGES = {"javascript", "js"}


def test_the_pages_hold_code_blocks() -> None:
    assert len(BLOCKS) > 30
    assert {block.page for block in BLOCKS} >= {"README.md", "docs/get-started.md"}


def test_every_code_block_has_a_checked_language() -> None:
    unchecked = [
        f"{block} ```{block.language}" for block in BLOCKS if block.language not in {*LANGUAGES, *NODE_LANGUAGES}
    ]
    assert unchecked == [], "give each block a language (```text for output)"


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_code_block_is_valid(block: Block, tmp_path: Path) -> None:
    if block.language in NODE_LANGUAGES:
        check_javascript(block.text, tmp_path)
    elif block.language in LANGUAGES:
        LANGUAGES[block.language](block.text)


FENCED = re.compile(r"^\s*(```|~~~).*?^\s*\1\s*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
INLINE_COMMAND = re.compile(r"(?:ocr-gateway|python3? -m|make) [^<]*")


def inline_commands(path: Path) -> Iterator[tuple[str, str]]:
    """The page's inline code that is a whole command of ours (``python -m bench.soak``), as (page, command);
    ``python -m bench.<name>`` is a pattern, not a command."""
    prose = FENCED.sub("", path.read_text())
    for span in INLINE_CODE.finditer(prose):
        command = " ".join(span[1].split())
        if INLINE_COMMAND.fullmatch(command):
            yield str(path.relative_to(ROOT)), command


INLINE_COMMANDS = sorted({command for page in PAGES for command in inline_commands(page)})


@pytest.mark.parametrize(("page", "command"), INLINE_COMMANDS)
def test_inline_command_is_valid(page: str, command: str) -> None:
    check_inline_command(shlex.split(command))


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("json", '{"headers": {"Authorization": "Bearer " ...}}'),  # a placeholder outside a string
        ("json", '{"command": "ocr-gateway", "args": ["mcp", "--urll", "http://127.0.0.1:8000"]}'),
        ("python", "client.chat.completions.create(model=model,\n"),
        ("python", "from gateway.config import Setings\n"),
        ("python", "from mistralai.clients import Mistral\n"),
        ("python", "from gateway.config import Settings\nSettings(engin=None)\n"),
        ("console", "$ make nosuch\nmake: *** No rule to make target 'nosuch'.\n"),
        ("yaml", "services: [gateway\n"),
        ("toml", "[tool.ruff\n"),
    ],
)
def test_broken_snippet_is_refused(language: str, text: str) -> None:
    with pytest.raises(REFUSALS):
        LANGUAGES[language](text)


def test_broken_javascript_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        check_javascript("const answer = await fetch(url, {method: 'POST',);\n", tmp_path)
