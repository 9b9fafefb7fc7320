"""MkDocs hooks: the pages that restate no list by hand.

Each page holds a marker that this module replaces at build time:

- ``<!-- settings-flags -->`` (operate/configuration.md): every ``ocr-gateway serve`` option, its environment
  variable, default and help, from the settings' own fields (``gateway.cli.settings_flags``) — the same source
  ``serve --help`` is built from;
- ``<!-- openapi-reference -->`` (reference/api.md): every route of the app's own OpenAPI document
  (``gateway.openapi.openapi_document`` over the route table), with its parameters, request body and responses,
  and the schemas they name; the document itself is written to the site as ``openapi.json``;
- ``<!-- include PATH -->`` (index.md, benchmarks.md, architecture.md): a Markdown file of the repository as it
  is (README.md, bench/README.md, ARCHITECTURE.md), its links to files the site carries pointed at their pages.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the gateway package, installed or not

SETTINGS_MARKER = "<!-- settings-flags -->"
OPENAPI_MARKER = "<!-- openapi-reference -->"
INCLUDE = re.compile(r"<!-- include (\S+) -->")
# Repository files the site carries as pages, for the links of an included file (every including page is at the
# top of docs/, so a page's path is also the link to it).
PAGES = {"README.md": "index.md", "bench/README.md": "benchmarks.md", "ARCHITECTURE.md": "architecture.md"}
METHODS = ("get", "post", "put", "patch", "delete")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Adds ``openapi.json`` to the site, so pages can link to it."""
    content = json.dumps(openapi(), indent=2) + "\n"
    files.append(File.generated(config, "openapi.json", content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_table())
    if OPENAPI_MARKER in markdown:
        markdown = markdown.replace(OPENAPI_MARKER, openapi_markdown(openapi()))
    return INCLUDE.sub(lambda match: included(match.group(1)), markdown)


def included(path: str) -> str:
    """The repository's ``path`` with its links to ``docs/`` pages and to the files in ``PAGES`` made the site's."""
    text = (ROOT / path).read_text()
    base = Path(path).parent

    def link(match: re.Match[str]) -> str:
        target, _, anchor = match.group(1).partition("#")
        resolved = (base / target).as_posix() if target else ""
        if resolved.startswith("docs/"):
            target = resolved.removeprefix("docs/")
        elif resolved in PAGES:
            target = PAGES[resolved]
        return f"]({target}{'#' + anchor if anchor else ''})"

    return re.sub(r"\]\((?!https?:)([^)\s]*)\)", link, text)


# --- configuration: every serve flag ---------------------------------------------------------------------------


def settings_table() -> str:
    """One row per flag, in the settings' declaration order, grouped as ``serve --help`` groups them."""
    from gateway.cli import GROUPS, settings_flags

    rows = ["| option | environment variable | default | what it does |", "|---|---|---|---|"]
    flags = list(settings_flags())
    order = ["", *GROUPS]
    for flag in sorted(flags, key=lambda flag: order.index(flag.option.group)):
        rows += _flag_rows(flag)
    return "\n".join(rows) + "\n"


def _flag_rows(flag: Any) -> list[str]:
    from gateway.cli import CHOICES

    option = flag.option
    name = f"`{flag.name}`, `--no-{flag.name[2:]}`" if flag.kind is bool else f"`{flag.name}`"
    text = option.help
    choices = option.choices or CHOICES.get(flag.dest)
    if choices:
        text += "; one of " + ", ".join(f"`{choice}`" for choice in choices)
    if option.repeat:
        text += "; repeat for several"
    rows = [f"| {name} | `{flag.env}` | {_default(flag.default())} | {_cell(text)} |"]
    if option.switch:
        switch, text = option.switch
        rows.insert(0, f"| `{switch}`, `--no-{switch[2:]}` | — | on | {_cell(text)} |")
    if option.lines_file:
        lines_flag, text = option.lines_file
        rows.append(f"| `{lines_flag}` | — | — | {_cell(text)} |")
    return rows


def _default(value: Any) -> str:
    if value is None or value == ():
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        value = ",".join(value)
    text = str(value).replace(str(Path.home()), "~")  # a default made from $HOME, as the builder's
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- API reference: the OpenAPI document as Markdown -----------------------------------------------------------


@cache
def openapi() -> dict[str, Any]:
    """The document a gateway with the Batch API serves at ``/openapi.json`` (every route it can serve)."""
    from gateway.openapi import openapi_document
    from gateway.routes import BATCH_ENDPOINTS, ENDPOINTS

    return openapi_document([*ENDPOINTS, *BATCH_ENDPOINTS])


def openapi_markdown(document: dict[str, Any]) -> str:
    parts = [
        _operation(path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]
    schemas = document["components"]["schemas"]
    parts.append("## Schemas\n")
    parts += [_schema(name, schema) for name, schema in sorted(schemas.items())]
    return "\n".join(parts)


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    lines = [f"### `{method.upper()} {path}`", ""]
    for key in ("summary", "description"):
        if operation.get(key):
            lines += [operation[key].strip(), ""]
    if "security" in operation:
        lines += ["Needs an API key (`Authorization: Bearer KEY`) when the gateway has keys.", ""]
    if operation.get("parameters"):
        lines += ["| parameter | in | type | required |", "|---|---|---|---|"]
        for parameter in operation["parameters"]:
            required = "yes" if parameter.get("required") else "no"
            kind = _type(parameter.get("schema", {}))
            described = f"{kind}: {_cell(parameter['description'])}" if parameter.get("description") else kind
            lines.append(f"| `{parameter['name']}` | {parameter['in']} | {described} | {required} |")
        lines.append("")
    if "requestBody" in operation:
        lines += ["**Request body**:", ""]
        lines += [
            f"- `{kind}`: {_type(media.get('schema', {}))}"
            for kind, media in operation["requestBody"]["content"].items()
        ]
        lines.append("")
    lines += ["| status | response |", "|---|---|"]
    answers: dict[str, list[str]] = {}  # statuses that answer alike share a row (the error statuses, mostly)
    for status, response in operation["responses"].items():
        answers.setdefault(_cell(response.get("description", "")) + _contents(response), []).append(status)
    lines += [f"| {', '.join(statuses)} | {answer} |" for answer, statuses in answers.items()]
    return "\n".join(lines) + "\n"


def _contents(response: dict[str, Any]) -> str:
    contents = response.get("content", {})
    return "".join(f"<br>`{kind}`: {_type(media.get('schema', {}))}" for kind, media in contents.items())


def _type(schema: dict[str, Any]) -> str:
    """A schema in a few words: a model's name (linked to its table), ``array of …``, a union, an enum."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " \\| ".join(_type(branch) for branch in schema[union])
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "properties" in schema:
        return "object (" + ", ".join(f"`{name}`" for name in schema["properties"]) + ")"
    if schema.get("format") == "binary":
        return "binary"
    return " \\| ".join(kind) if isinstance(kind, list) else str(kind)


def _schema(name: str, schema: dict[str, Any]) -> str:
    lines = [f"### {name} {{: #{_anchor(name)} }}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"].strip()), ""]
    properties = schema.get("properties")
    if not properties:
        return "\n".join([*lines, f"Type: {_type(schema)}", ""])
    required = set(schema.get("required", ()))
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, spec in properties.items():
        text = _cell(spec.get("description", ""))
        lines.append(f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} | {text} |")
    return "\n".join(lines) + "\n"


def _anchor(name: str) -> str:
    return "schema-" + name.lower()
