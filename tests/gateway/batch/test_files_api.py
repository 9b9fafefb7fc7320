"""``/v1/files`` with OpenAI's semantics, on the real job store (SQLite) with a fake engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.jobstore.blobs import PARTIAL_PREFIX, BlobDir
from tests.gateway.batch.conftest import MakeClient, blob_names, upload


def test_upload_returns_an_openai_file_object(jobs: TestClient) -> None:
    created = upload(jobs, '{"a": 1}\n', name="requests.jsonl")
    assert created["id"].startswith("file-")
    assert created["object"] == "file" and created["status"] == "processed"
    assert (created["bytes"], created["filename"], created["purpose"]) == (9, "requests.jsonl", "batch")
    assert isinstance(created["created_at"], int)
    assert jobs.get(f"/v1/files/{created['id']}").json() == created


def test_content_is_the_uploaded_bytes(jobs: TestClient) -> None:
    data = bytes(range(256)) * 100
    created = upload(jobs, data, name="blob.bin")
    assert jobs.get(f"/v1/files/{created['id']}/content").content == data


def test_list_pages_with_limit_after_and_order(jobs: TestClient) -> None:
    ids = [upload(jobs, f"{n}\n")["id"] for n in range(5)]
    newest_first = jobs.get("/v1/files").json()
    assert [item["id"] for item in newest_first["data"]] == ids[::-1]
    page = jobs.get("/v1/files", params={"order": "asc", "limit": 2}).json()
    assert [item["id"] for item in page["data"]] == ids[:2] and page["has_more"]
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[1])
    rest = jobs.get("/v1/files", params={"order": "asc", "limit": 10, "after": page["last_id"]}).json()
    assert [item["id"] for item in rest["data"]] == ids[2:] and not rest["has_more"]


def test_list_filters_by_purpose(jobs: TestClient) -> None:
    upload(jobs, "x\n")
    assert len(jobs.get("/v1/files", params={"purpose": "batch"}).json()["data"]) == 1
    assert jobs.get("/v1/files", params={"purpose": "batch_output"}).json()["data"] == []


def test_delete_removes_row_and_contents(jobs: TestClient) -> None:
    file_id = upload(jobs, "x\n")["id"]
    assert jobs.delete(f"/v1/files/{file_id}").json() == {"id": file_id, "object": "file", "deleted": True}
    for response in (jobs.get(f"/v1/files/{file_id}"), jobs.get(f"/v1/files/{file_id}/content")):
        assert response.status_code == 404
    assert jobs.delete(f"/v1/files/{file_id}").status_code == 404


@pytest.mark.parametrize(
    ("files", "data", "param"),
    [
        ({"file": ("a.jsonl", b"x")}, {"purpose": "fine-tune"}, "purpose"),
        (None, {"purpose": "batch"}, "file"),
    ],
)
def test_bad_uploads_get_400_naming_the_param(jobs: TestClient, files: dict | None, data: dict, param: str) -> None:
    response = jobs.post("/v1/files", files=files, data=data) if files else jobs.post("/v1/files", data=data)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_oversized_upload_gets_413_and_leaves_nothing(make_client: MakeClient, tmp_path: Path, blob_store: str) -> None:
    client = make_client(batch={"max_batch_file_mb": 0.5})
    response = client.post("/v1/files", files={"file": ("big.jsonl", b"x" * 600_000)}, data={"purpose": "batch"})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert client.get("/v1/files").json()["data"] == []
    assert blob_names(blob_store, tmp_path / "data", "files") == []


def test_oversized_chunked_upload_is_cut_off_with_413(make_client: MakeClient) -> None:
    client = make_client(batch={"max_batch_file_mb": 0.5})
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'.encode()

    def body() -> Iterator[bytes]:  # no Content-Length: the size is only known while reading
        yield head
        for _ in range(100):
            yield b"x" * 65536

    response = client.post(
        "/v1/files", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert client.get("/v1/files").json()["data"] == []


def test_a_write_that_fails_halfway_leaves_no_file(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)

    def chunks() -> Iterator[bytes]:
        yield b"first half"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        asyncio.run(blobs.write("file-1", chunks()))
    assert not blobs.path("file-1").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(PARTIAL_PREFIX)]


def test_one_key_cannot_see_another_keys_files(make_client: MakeClient) -> None:
    client = make_client(api_keys=("alice-key", "bob-key"))
    alice, bob = {"Authorization": "Bearer alice-key"}, {"Authorization": "Bearer bob-key"}
    response = client.post("/v1/files", files={"file": ("a.jsonl", b"x\n")}, data={"purpose": "batch"}, headers=alice)
    file_id = response.json()["id"]
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content"):
        assert client.get(path, headers=bob).status_code == 404
        assert client.get(path, headers=alice).status_code == 200
    assert client.get("/v1/files", headers=bob).json()["data"] == []
    assert client.delete(f"/v1/files/{file_id}", headers=bob).status_code == 404
    assert client.get(f"/v1/files/{file_id}", headers=alice).status_code == 200
