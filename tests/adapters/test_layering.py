"""The engine boundary depends on nothing above it: no module under ``adapters/`` imports the gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
MODULES = sorted(ADAPTERS.rglob("*.py"))


def imported_modules(source: str) -> list[str]:
    """Every module an ``import`` or ``from … import`` names, at any depth (functions, TYPE_CHECKING blocks)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def is_gateway(module: str) -> bool:
    return module == "gateway" or module.startswith("gateway.")


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_no_adapter_module_imports_the_gateway(path: Path) -> None:
    found = [module for module in imported_modules(path.read_text()) if is_gateway(module)]
    assert found == [], f"{path.name} imports {found}"


@pytest.mark.parametrize(
    "source",
    [
        "import gateway",
        "import gateway.errors as errors",
        "from gateway import errors",
        "from gateway.media.loader import ImageBudget",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gateway.media.loader import ImageBudget",
        "def f():\n    from gateway.errors import InvalidRequest",
    ],
)
def test_the_check_sees_every_way_of_importing_the_gateway(source: str) -> None:
    assert any(is_gateway(module) for module in imported_modules(source))


def test_the_check_leaves_lookalike_names_alone() -> None:
    assert not any(is_gateway(module) for module in imported_modules("import gateways\nfrom adapters import x"))


def test_there_are_adapter_modules_to_check() -> None:
    assert len(MODULES) >= 10
