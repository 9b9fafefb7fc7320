"""The job store on a real PostgreSQL server: the same API, and two gateways sharing one batch without overlap."""

from __future__ import annotations

from collections import Counter

from starlette.testclient import TestClient

from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import MakeClient, create_batch, jsonl, request_line, upload, wait_for

DONE = ("completed", "failed", "cancelled", "expired")


def test_files_and_a_batch_round_trip_on_postgresql(make_client: MakeClient, postgres_url: str) -> None:
    client = make_client(batch={"database_url": postgres_url})
    lines = [request_line("a"), "not json", request_line("b")]
    file_id = upload(client, "\n".join(lines))["id"]
    assert [item["id"] for item in client.get("/v1/files").json()["data"]] == [file_id]
    batch = wait_for(client, create_batch(client, file_id, metadata={"k": "v"})["id"], DONE)
    assert batch["status"] == "completed" and batch["metadata"] == {"k": "v"}
    assert batch["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert [line["custom_id"] for line in jsonl(client, batch["output_file_id"])] == ["a", "b"]
    assert [line["custom_id"] for line in jsonl(client, batch["error_file_id"])] == [None]


def test_duplicate_custom_ids_fail_on_postgresql_too(make_client: MakeClient, postgres_url: str) -> None:
    client = make_client(batch={"database_url": postgres_url})
    batch = create_batch(client, upload(client, "\n".join([request_line("a"), request_line("a")]))["id"])
    failed = wait_for(client, batch["id"], DONE)
    assert failed["status"] == "failed" and failed["errors"]["data"][0]["code"] == "duplicate_custom_id"


def test_two_gateways_on_one_database_answer_each_request_once(make_client: MakeClient, postgres_url: str) -> None:
    engines = [FakeEngine(), FakeEngine()]
    first, second = (make_client(engine, batch={"database_url": postgres_url}) for engine in engines)
    batches = [
        create_batch(client, upload(client, "\n".join(_line(f"{n}-{i}") for i in range(20)))["id"])["id"]
        for n, client in enumerate((first, second, first, second))
    ]
    finished = [wait_for(first, batch_id, DONE) for batch_id in batches]
    assert {batch["status"] for batch in finished} == {"completed"}
    served = Counter(request.prompt for engine in engines for request in engine.requests)
    assert sum(served.values()) == 80 and max(served.values()) == 1
    answered = [line["custom_id"] for batch in finished for line in jsonl(second, batch["output_file_id"])]
    assert sorted(answered) == sorted(f"{n}-{i}" for n in range(4) for i in range(20))


def test_a_second_gateway_sees_the_first_ones_files(make_client: MakeClient, postgres_url: str) -> None:
    first = make_client(batch={"database_url": postgres_url})
    second: TestClient = make_client(batch={"database_url": postgres_url})
    file_id = upload(first, b"shared\n")["id"]
    assert second.get(f"/v1/files/{file_id}/content").content == b"shared\n"


def _line(custom_id: str) -> str:
    return request_line(custom_id, text=f"Extract the text of {custom_id}.")  # a prompt of its own per request


def test_nul_characters_are_refused_before_they_reach_postgresql(make_client: MakeClient, postgres_url: str) -> None:
    # PostgreSQL text cannot hold NUL: such input must be a 4xx or an error line, never a stuck batch or a 500.
    client = make_client(batch={"database_url": postgres_url})
    assert client.get("/v1/files", params={"after": "file-\x00"}).status_code == 404
    assert client.get("/v1/batches", params={"after": "batch_\x00"}).status_code == 404
    assert client.get("/v1/files", params={"purpose": "batch\x00"}).status_code == 400
    file_id = upload(client, "\n".join([request_line("nul\x00id"), request_line("fine")]), name="a\x00b.jsonl")["id"]
    batch = wait_for(client, create_batch(client, file_id)["id"], DONE)
    assert batch["status"] == "completed" and batch["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
