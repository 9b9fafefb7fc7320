"""``ocr-gateway``: the command line. Every flag can also be set as ``OCR_GATEWAY_<FLAG>``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import Field, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from adapters.settings import Option
from gateway.cli import folder as folder_command
from gateway.cli import mcp_proxy
from gateway.cli.engines import ENGINES
from gateway.cli.model_source import ModelUnavailable
from gateway.config import Settings

ENV_PREFIX = "OCR_GATEWAY_"
TRUE_WORDS = {"1", "true", "yes", "on"}
# The argument groups of ``serve --help`` by the ``group`` a setting names: title, description.
GROUPS: dict[str, tuple[str, str | None]] = {
    "operation": ("operation options", None),
    "engine": ("engine options", None),
    "upstream": (
        "upstream engine options",
        "--engine upstream forwards engine work to OpenAI-compatible vLLM servers serving the same checkpoint; "
        "--model then only supplies its tokenizer and processor files",
    ),
    "media": ("media options", None),
    "batch": ("Batch API options", None),
}
# Choices that only the code acting on them knows.
CHOICES = {"engine_kind": tuple(sorted(ENGINES))}


@dataclass(frozen=True)
class Flag:
    """One settings field as a command-line option."""

    field: Field[Any]
    kind: type  # what one value parses to: bool, int, float or str
    many: bool  # a tuple field

    @classmethod
    def of(cls, item: Field[Any], hint: Any) -> Flag:
        if get_origin(hint) is tuple:
            return cls(item, get_args(hint)[0], many=True)
        kinds = [kind for kind in get_args(hint) if kind is not type(None)] or [hint]  # int | None → int
        return cls(item, kinds[0], many=False)

    @property
    def option(self) -> Option:
        option: Option = self.field.metadata["option"]
        return option

    @property
    def dest(self) -> str:
        return self.field.name

    @property
    def name(self) -> str:
        return self.option.flag or "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return (ENV_PREFIX + self.option.env) if self.option.env else _env_name(self.name)

    def default(self) -> Any:
        """The field's default, or the one the command line has on purpose (``Option.cli_default``)."""
        return self.option.cli_default() if self.option.cli_default else self.field.default


def settings_flags(cls: type = Settings) -> Iterator[Flag]:
    """Every field of ``cls`` (nested settings included) the command line offers, in declaration order."""
    hints = get_type_hints(cls)
    for item in fields(cls):
        if is_dataclass(hints[item.name]):
            yield from settings_flags(hints[item.name])
        elif "option" in item.metadata:
            yield Flag.of(item, hints[item.name])


def build_parser() -> argparse.ArgumentParser:
    """``serve``'s options are made from the settings' fields, where each default and help text is stated once
    (``gateway/config.py``, ``adapters/settings.py``); ``batch`` takes them too, and its own."""
    parser = argparse.ArgumentParser(prog="ocr-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the OpenAI-compatible API",
        description="Serve the OpenAI-compatible API (chat completions with images, models, health) on one port.",
    )
    groups: dict[str, argparse._ActionsContainer] = {"": serve}
    groups.update((name, serve.add_argument_group(title, text)) for name, (title, text) in GROUPS.items())
    order = list(groups)  # usage lists the flags in the order they were added: group by group
    for flag in sorted(settings_flags(), key=lambda flag: order.index(flag.option.group)):
        _add_flag(groups[flag.option.group], flag)
    # The folder command takes every serve flag too: they configure its in-process engine when there is no --url.
    folder = commands.add_parser(
        "batch",
        parents=[serve],
        add_help=False,
        help="OCR folders of images and PDFs into one result file each",
        description=folder_command.__doc__,
    )
    folder_command.add_arguments(folder)
    mcp = commands.add_parser(
        "mcp",
        help="serve a gateway's MCP tools over stdio, reading local files (for desktop agents)",
        description=mcp_proxy.__doc__,
    )
    mcp_proxy.add_arguments(mcp)
    return parser


def _add_flag(container: argparse._ActionsContainer, flag: Flag) -> None:
    option, env = flag.option, flag.env
    if option.switch:
        _add(container, option.switch[0], True, option.switch[1], bool)
    if option.repeat:
        container.add_argument(
            flag.name,
            dest=flag.dest,
            action="append",
            default=_split(os.environ.get(env, ",".join(flag.default()))),
            metavar=option.metavar or _dest(flag.name).upper(),
            help=f"{option.help}; repeat for several [env {env}, comma-separated]",
        )
    elif flag.many:  # one comma-separated value
        _add(container, flag.name, ",".join(flag.default()), option.help, str, dest=flag.dest, env=env)
    else:
        choices = option.choices or CHOICES.get(flag.dest)
        _add(container, flag.name, flag.default(), option.help, flag.kind, dest=flag.dest, env=env, choices=choices)
    if option.lines_file:
        _add(container, option.lines_file[0], None, option.lines_file[1])


def _add(
    container: argparse._ActionsContainer,
    flag: str,
    default: Any,
    help_text: str,
    kind: type = str,
    *,
    dest: str | None = None,
    env: str | None = None,
    choices: Sequence[str] | None = None,
) -> None:
    env = env or _env_name(flag)
    value = _env_default(env, default, kind)
    dest = dest or _dest(flag)
    if kind is bool:
        action = argparse.BooleanOptionalAction
        container.add_argument(flag, dest=dest, action=action, default=value, help=f"{help_text} [env {env}]")
    else:
        help_text = f"{help_text} (default: %(default)s) [env {env}]"
        container.add_argument(flag, dest=dest, type=kind, default=value, choices=choices, help=help_text)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _env_name(flag: str) -> str:
    return ENV_PREFIX + _dest(flag).upper()


def _env_default(env_name: str, default: Any, kind: type) -> Any:
    raw = os.environ.get(env_name)
    if raw is None:
        return default
    return raw.strip().lower() in TRUE_WORDS if kind is bool else kind(raw)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the parsed flags describe: each flag fills the field it was made from."""
    settings: Settings = _fill(Settings, vars(args))
    return settings


def _fill(cls: type, values: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    filled = {}
    for item in fields(cls):
        if is_dataclass(hints[item.name]):
            filled[item.name] = _fill(hints[item.name], values)
        elif "option" in item.metadata:
            filled[item.name] = _value(Flag.of(item, hints[item.name]), values)
    return cls(**filled)


def _value(flag: Flag, values: dict[str, Any]) -> Any:
    option, value = flag.option, values[flag.dest]
    if option.switch and not values[_dest(option.switch[0])]:
        return None
    if not flag.many:
        return value
    items = list(value) if option.repeat else _split(value)
    if option.lines_file:
        items += _lines(values[_dest(option.lines_file[0])])
    return tuple(item.lower() for item in items) if option.lowercase else tuple(items)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _lines(path: str | None) -> list[str]:
    """The lines of the file at ``path`` that are neither blank nor ``#`` comments (none without a path)."""
    if not path:
        return []
    lines = (line.strip() for line in Path(path).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def serve(settings: Settings) -> int:
    import uvicorn

    from gateway.app import build_app
    from gateway.cli.engines import create_engine
    from gateway.cli.server import GracefulServer
    from gateway.middleware.auth import QueryKeyRedaction

    try:
        engine, prompts = create_engine(settings)
    except ModelUnavailable as error:
        print(f"ocr-gateway: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(
            f"ocr-gateway: {settings.engine.model} is not a HunyuanOCR (HunYuanVL) checkpoint this gateway can load: "
            f"{error}",
            file=sys.stderr,
        )
        return 2
    app = build_app(settings, engine, prompts)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Streams get --shutdown-timeout to finish; uvicorn waits a little longer than they do.
        timeout_graceful_shutdown=int(settings.shutdown_timeout) + 5,
        timeout_keep_alive=5,
        access_log=False,  # our own JSON access line (middleware/request_log.py) says more, once
    )
    logging.getLogger("uvicorn.error").addFilter(QueryKeyRedaction())  # configured by Config, just above
    GracefulServer(config).run()
    return int(app.state.lifecycle.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and args.engine_kind == "upstream" and not args.upstreams:
        parser.error("--engine upstream needs at least one --upstream URL (or OCR_GATEWAY_UPSTREAMS)")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return serve(settings_from_args(args))
    if args.command == "batch":
        return folder_command.run_batch_command(args, settings_from_args(args))
    if args.command == "mcp":
        return mcp_proxy.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
