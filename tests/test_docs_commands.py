"""How the docs' commands are checked, wherever they stand (code blocks, inline code, an MCP config's
``command``/``args``): each simple command by its name (``CHECKS``).

- ``ocr-gateway`` parses with the real CLI parser (``gateway.cli.build_parser``), abbreviations refused;
- ``make`` names real targets, and ``ARGS=…`` parses for the command its recipe hands ``$(ARGS)`` to;
- ``curl`` talks to the local gateway on a path and method of the OpenAPI document, with known query and form
  fields (and values, where the document lists them), and a JSON body that parses and fits the request schema;
- ``python -m`` names an installed module; one of this repository's parses with the parser its ``main()`` builds
  (caught as it parses, so nothing runs); ``python -c`` code parses;
- ``docker compose -f`` names a YAML file of the repository; ``ocrmypdf --plugin`` an installed module.

A command named in prose (``check_inline_command``) is held to less: its target or module exists, and each flag it
gives, but what it requires may be left out.

A command no check knows must be listed in ``EXTERNAL``, so a new one is a decision. The tests below hold a
broken command for each check: each must be refused.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.machinery
import importlib.util
import io
import json
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
import yaml

from gateway.cli import build_parser
from gateway.openapi import openapi_document
from gateway.routes import BATCH_ENDPOINTS, ENDPOINTS

ROOT = Path(__file__).parents[1]
PROJECT_PACKAGES = {"adapters", "bench", "gateway", "prompts", "tests"}
# Commands a snippet may run that no check here understands: each is a tool of its own, not this project's.
EXTERNAL = {"base64", "export", "open-webui", "openssl", "paddleocr_mcp", "printf"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "{", "}", "\n"}
REDIRECTIONS = {">", ">>", "<", "2>", "&>"}
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# How a check refuses a snippet: its own assertion, or the parser's error (a JSON, YAML, TOML or Python one, a body
# the request schema rejects, a file that is not there).
REFUSALS = (AssertionError, SyntaxError, ValueError, OSError, yaml.YAMLError, jsonschema.ValidationError)


def logical_lines(text: str) -> Iterator[str]:
    """Lines joined where a backslash continues them or a quote spans them."""
    pending = ""
    for line in text.replace("\\\n", " ").splitlines():
        pending += line + "\n"
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        yield pending
        pending = ""
    assert pending == "", f"unclosed quote in {pending!r}"


def simple_commands(text: str) -> Iterator[list[str]]:
    """Each simple command's words, split at pipes, lists, groups and ``$(``, redirections and comments dropped."""
    for line in logical_lines(text):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        redirected = False
        for token in lexer:
            if redirected:
                redirected = False
            elif token in REDIRECTIONS:
                redirected = True
            elif token in SEPARATORS:
                yield command
                command = []
            else:
                command.append(token)
        yield command


def check_shell(text: str) -> None:
    syntax = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    for words in simple_commands(text):
        check_command(words)


def without_assignments(words: list[str]) -> list[str]:
    """The command without the ``VAR=value`` before it (alone, as the "$" a ``VAR=$(`` leaves, it is nothing)."""
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0], re.DOTALL):
        words = words[1:]
    return words


def check_command(words: list[str]) -> None:
    words = without_assignments(words)
    if not words:
        return
    name = words[0]
    if name in CHECKS:
        CHECKS[name](words)
    else:
        assert name in EXTERNAL, f"no check knows the command {name!r}: add one to CHECKS, or list it in EXTERNAL"


def parse_with(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Parses ``argv`` as the program would, failing with argparse's own message."""
    no_abbreviations(parser)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            message = (errors.getvalue().strip().splitlines() or [""])[-1]
            assert exit.code == 0, f"{parser.prog} {shlex.join(argv)}: {message}"


def check_ocr_gateway(words: list[str]) -> None:
    parse_with(build_parser(), words[1:])


def no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """A snippet spells each flag out: ``--max-model`` for ``--max-model-len`` would break when a flag is added."""
    parser.allow_abbrev = False
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for subparser in action.choices.values():
            no_abbreviations(subparser)


class ParserFound(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def module_parser(module_name: str) -> argparse.ArgumentParser:
    """The parser a ``python -m`` module's ``main()`` builds, caught as it parses: nothing after that runs."""
    module = importlib.import_module(module_name)
    main = getattr(module, "main", None)
    assert callable(main), f"python -m {module_name}: no main() to take the parser from"

    def found(parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        raise ParserFound(parser)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", found), pytest.raises(ParserFound) as caught:
        main()
    parser = caught.value.parser
    parser.prog = f"python -m {module_name}"
    return parser


def check_python_command(words: list[str]) -> None:
    if words[1] == "-c":
        ast.parse(words[2])
        return
    assert words[1] == "-m", f"{shlex.join(words)}: run a module (python -m) or code (python -c)"
    module_name, argv = words[2], words[3:]
    assert module_exists(module_name), f"python -m {module_name}: no such module"
    if module_name.partition(".")[0] in PROJECT_PACKAGES:
        parse_with(module_parser(module_name), argv)


def make_recipes() -> dict[str, list[str]]:
    """Each Makefile target's recipe lines (continuations joined), ``$(VENV)/bin/`` and ``$$`` as the shell sees."""
    recipes: dict[str, list[str]] = {}
    targets: list[str] = []
    for line in (ROOT / "Makefile").read_text().replace("\\\n", " ").splitlines():
        if line.startswith("\t"):
            for target in targets:
                recipes[target].append(line.strip().replace("$(VENV)/bin/", "").replace("$$", "$"))
        elif match := re.match(r"^([\w.-]+(?:[ \t]+[\w.-]+)*)[ \t]*:(?![:=])", line):
            targets = match[1].split()
            for target in targets:
                recipes.setdefault(target, [])
        elif line.strip():
            targets = []
    return recipes


def check_make(words: list[str]) -> None:
    recipes = make_recipes()
    targets = [word for word in words[1:] if "=" not in word and not word.startswith("-")]
    assert targets, f"{shlex.join(words)}: name the target"
    assert [target for target in targets if target not in recipes] == [], f"{shlex.join(words)}: no such target"
    for word in words[1:]:
        if word.startswith("ARGS="):
            for target in targets:
                check_make_args(target, recipes[target], shlex.split(word.removeprefix("ARGS=")))


def check_make_args(target: str, recipe: list[str], args: list[str]) -> None:
    """``make T ARGS="…"`` adds ``…`` to the command of T's recipe that ends in ``$(ARGS)``: check that command."""
    sentinel = "MAKE_ARGS_GO_HERE"
    lines = [line.replace("$(ARGS)", sentinel) for line in recipe if "$(ARGS)" in line]
    receiving = [words for line in lines for words in simple_commands(line) if sentinel in words]
    assert receiving, f"make {target} ignores ARGS"
    for words in receiving:
        index = words.index(sentinel)
        check_command([*words[:index], *args, *words[index + 1 :]])


CURL_VALUE_OPTIONS = {"-d", "--data", "--data-raw", "--data-binary", "--json", "-F", "--form", "-H", "--header"}
CURL_VALUE_OPTIONS |= {"-o", "--output", "-X", "--request", "-u", "--user", "-w", "--write-out", "-T"}
CURL_FLAGS = {"-s", "--silent", "-S", "--show-error", "-N", "--no-buffer", "-f", "--fail", "-v", "--verbose"}


@dataclass
class CurlCall:
    """What a curl command sends: URLs, method, headers, JSON bodies and multipart field names."""

    urls: list[str]
    method: str
    headers: dict[str, str]
    bodies: list[str]
    form: list[str]


def parse_curl(words: list[str]) -> CurlCall:
    call = CurlCall([], "GET", {}, [], [])
    options = iter(words[1:])
    for word in options:
        if word not in CURL_VALUE_OPTIONS:
            assert not word.startswith("-") or word in CURL_FLAGS, f"curl option {word}: add it to the checks"
            call.urls += [] if word.startswith("-") else [word]
            continue
        value = next(options)
        if word in {"-X", "--request"}:
            call.method = value
        elif word in {"-H", "--header"}:
            name, colon, header = value.partition(":")
            assert colon, f"curl -H {value!r}: a header is Name: value"
            call.headers[name.strip().lower()] = header.strip()
        elif word in {"-F", "--form"}:
            name, _, field = value.partition("=")
            call.form.append(name)
            if field.startswith(("{", "[")):
                json.loads(field)  # a field given as JSON (fields=["date", "total"]) parses
        elif word.startswith(("-d", "--data", "--json")) and not value.startswith("@"):
            call.bodies.append(value)
        if word.startswith(("-d", "--data", "--json", "-F", "--form")) and call.method == "GET":
            call.method = "POST"
    return call


def check_curl(words: list[str]) -> None:
    call = parse_curl(words)
    assert call.urls, f"{shlex.join(words)}: no URL"
    for url in call.urls:
        check_api_call(url, call)


def openapi_operation(path: str, method: str) -> dict[str, Any]:
    paths = OPENAPI["paths"]
    templates = {re.sub(r"\{[^/]+\}", "[^/]+", template): template for template in paths}
    matching = [template for pattern, template in templates.items() if re.fullmatch(pattern, path)]
    assert matching, f"{path}: not a path of the API (docs/reference/api.md)"
    operations = paths[matching[0]]
    assert method.lower() in operations, f"{method} {path}: the API has {sorted(operations)} there"
    return dict(operations[method.lower()])


def check_api_call(url: str, call: CurlCall) -> None:
    parts = urlsplit(url)
    assert parts.hostname in LOCAL_HOSTS, f"{url}: snippets talk to the local gateway"
    assert not re.search(r"\s", url), f"{url!r}: curl refuses a URL with a space (write %20)"
    operation = openapi_operation(parts.path, call.method)
    query = {parameter["name"]: parameter["schema"] for parameter in operation.get("parameters", [])}
    for name, value in parse_qsl(parts.query):
        assert name in query, f"{url}: {name!r} is not a query parameter of {parts.path}"
        assert value in query[name].get("enum", [value]), f"{url}: {name}={value} is not one of {query[name]['enum']}"
    content = operation.get("requestBody", {}).get("content", {})
    form_fields = content.get("multipart/form-data", {}).get("schema", {}).get("properties", {})
    assert [name for name in call.form if name not in form_fields] == [], f"{url}: unknown form fields"
    sent_type = call.headers.get("content-type", "").partition(";")[0]
    assert sent_type in {"", *content}, f"{url}: {parts.path} takes {sorted(content)}, not {sent_type}"
    for body in call.bodies:
        schema = content["application/json"]["schema"]
        jsonschema.validate(json.loads(body), {**schema, "components": OPENAPI["components"]})


def check_docker(words: list[str]) -> None:
    """``docker compose -f FILE``: the file is in the repository and is YAML."""
    for option, value in zip(words, words[1:], strict=False):
        if option == "-f":
            assert list(yaml.safe_load_all((ROOT / value).read_text())), f"{value}: empty"


def check_ocrmypdf(words: list[str]) -> None:
    for option, value in zip(words, words[1:], strict=False):
        if option == "--plugin":
            assert module_exists(value), f"ocrmypdf --plugin {value}: no such module"


CHECKS: dict[str, Callable[[list[str]], None]] = {
    "curl": check_curl,
    "docker": check_docker,
    "make": check_make,
    "ocr-gateway": check_ocr_gateway,
    "ocrmypdf": check_ocrmypdf,
    "python": check_python_command,
    "python3": check_python_command,
}
OPENAPI = openapi_document([*ENDPOINTS, *BATCH_ENDPOINTS])


def module_exists(name: str) -> bool:
    """Whether ``name`` is installed, found on disk without importing it or its packages (``importlib`` would import
    ``vllm`` or ``docling`` for one of their submodules: seconds each)."""
    top, *parts = name.split(".")
    spec = importlib.util.find_spec(top)
    folders = [Path(folder) for folder in (spec.submodule_search_locations or [])] if spec else []
    for index, part in enumerate(parts):
        files = [folder / f"{part}{suffix}" for folder in folders for suffix in importlib.machinery.all_suffixes()]
        if index == len(parts) - 1 and any(file.is_file() for file in files):
            return True
        folders = [folder / part for folder in folders if (folder / part).is_dir()]
    return spec is not None and (not parts or bool(folders))


def check_inline_command(words: list[str]) -> None:
    """A command named in prose (``python -m bench.real_documents``) may leave out what it requires: its target or
    module exists, and each flag it gives."""
    if words[0] == "make":
        check_make(words)
        return
    if words[0] == "ocr-gateway":
        parser, argv = cli_subparser(words[1]), words[2:]
    else:
        assert module_exists(words[2]), f"python -m {words[2]}: no such module"
        if words[2].partition(".")[0] not in PROJECT_PACKAGES:
            return
        parser, argv = module_parser(words[2]), words[3:]
    flags = [word.partition("=")[0] for word in argv if word.startswith("-")]
    unknown = [flag for flag in flags if flag not in parser._option_string_actions]
    assert unknown == [], f"{shlex.join(words)}: {parser.prog} has no {', '.join(unknown)}"


def cli_subparser(name: str) -> argparse.ArgumentParser:
    commands = build_parser()._subparsers
    assert commands is not None
    choices = commands._group_actions[0].choices
    assert isinstance(choices, dict) and name in choices, f"ocr-gateway {name}: no such command"
    return choices[name]


@pytest.mark.parametrize(
    "command",
    [
        "ocr-gateway serv",
        "ocr-gateway serve --enginee transformers",
        "ocr-gateway serve --engine nosuch",
        "ocr-gateway serve --max-model 8192",  # an abbreviation of --max-model-len
        "make serv",
        'make serve ARGS="--modle x"',
        "make bench ARGS=--quik",
        "make docs ARGS=--strict",  # its recipe takes no ARGS
        "curl http://example.com:8000/ocr",
        "curl --data-binary @scan.png http://127.0.0.1:8000/ocrr",
        "curl http://127.0.0.1:8000/ocr",  # GET
        'curl --data-binary @scan.png "http://127.0.0.1:8000/ocr?format=pdff"',
        'curl --data-binary @scan.png "http://127.0.0.1:8000/ocr?formatt=pdf"',
        'curl --data-binary @scan.png "http://127.0.0.1:8000/ocr?fields=invoice number"',
        "curl -F file=@scan.png -F formatt=pdf http://127.0.0.1:8000/ocr",
        "curl -F file=@scan.png -F 'fields=[\"total\"' http://127.0.0.1:8000/ocr",
        'curl --data-binary @scan.pdf -H "Content-Type: application/octet" http://127.0.0.1:8000/ocr',
        "curl http://127.0.0.1:8000/v1/chat/completions -d '{\"messages\": ['",
        "curl http://127.0.0.1:8000/v1/chat/completions -d '{\"messages\": 5}'",
        "python -m bench.nosuch",
        "python -m bench.compare --quik",
        "python3 -c 'import (('",
        "docker compose -f docker/nosuch.yaml up",
        "OCR_GATEWAY_URL=http://127.0.0.1:8000/v1 ocrmypdf --plugin gateway.nosuch in.pdf out.pdf",
        "wget http://127.0.0.1:8000/ocr",  # a command no check knows
        "if true; then",
    ],
)
def test_broken_command_is_refused(command: str) -> None:
    with pytest.raises(REFUSALS):
        check_shell(command + "\n")
