"""The job store is a layer under the APIs: nothing in ``gateway/jobstore/`` imports a route, a service or a worker
built on it (the Batch API's worker, docling's task store and the routes import it, never the reverse)."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway.jobstore

BELOW = {"gateway.jobstore", "gateway.errors", "gateway.protocol", "gateway.config"}  # what the store may import


def test_the_job_store_imports_nothing_built_on_it() -> None:
    root = Path(gateway.jobstore.__file__).parent
    imported = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gateway"):
                imported.add((path.relative_to(root).as_posix(), node.module))
    above = {(path, module) for path, module in imported if not any(module.startswith(ok) for ok in BELOW)}
    assert above == set() and imported  # something was read: the test looks where the store is
