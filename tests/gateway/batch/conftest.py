from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.gateway.conftest import MakeClient
from tests.postgres import Cluster


@pytest.fixture
def jobs(make_client: MakeClient) -> TestClient:
    return make_client()


def request_line(custom_id: str, text: str = "Extract the text.", **body: Any) -> str:
    body = {"model": "fake-ocr", "messages": [{"role": "user", "content": text}], "max_tokens": 3, **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def upload(client: TestClient, content: bytes | str, name: str = "requests.jsonl", purpose: str = "batch") -> dict:
    data = content.encode() if isinstance(content, str) else content
    response = client.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose})
    assert response.status_code == 200, response.text
    return response.json()


def create_batch(client: TestClient, file_id: str, **extra: Any) -> dict:
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h", **extra}
    response = client.post("/v1/batches", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client: TestClient, batch_id: str, statuses: tuple[str, ...], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        if batch["status"] in statuses:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch stayed {batch['status']}")


def jsonl(client: TestClient, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 200
    return [json.loads(line) for line in response.text.splitlines()]


def blob_names(blob_store: str, data_dir: Path, folder: str) -> list[str]:
    """The blobs kept in ``folder`` (``files`` or ``tasks``) of a job store on SQLite, wherever ``blob_store`` keeps
    them: the files in that folder, or the ``blob_chunks`` rows (file ids start with ``file-``, task blobs do not)."""
    if blob_store == "dir":
        return sorted(path.name for path in (data_dir / folder).iterdir())
    with contextlib.closing(sqlite3.connect(data_dir / "gateway.db")) as database:
        names = [name for (name,) in database.execute("SELECT DISTINCT blob_id FROM blob_chunks")]
    return sorted(name for name in names if name.startswith("file-") == (folder == "files"))


@pytest.fixture
def postgres_url(postgres: Cluster) -> str:
    return postgres.create_database(f"jobs_{uuid.uuid4().hex[:12]}")
