"""The OpenAI Batch API round trip with the official ``openai`` client against the real gateway (real engine)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.conftest import Gateway
from tests.images import image_part, make_image


def _line(custom_id: str, seed: int, **body: object) -> str:
    messages = [{"role": "user", "content": [image_part(make_image(64, 48, seed=seed))]}]
    request = {"model": "hunyuan-ocr-tiny", "messages": messages, "max_tokens": 8, "temperature": 0, **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": request})


def test_file_batch_output_round_trip_with_the_openai_client(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    lines = [_line(f"doc-{n}", seed=n) for n in range(4)] + [_line("wrong-model", 9, model="gpt-4o"), "{oops"]
    requests.write_text("\n".join(lines) + "\n")
    with open(requests, "rb") as source:  # as OpenAI's docs do
        uploaded = client.files.create(file=source, purpose="batch")
    assert (uploaded.object, uploaded.purpose, uploaded.filename) == ("file", "batch", "requests.jsonl")
    assert uploaded.bytes == requests.stat().st_size
    assert uploaded.id in [item.id for item in client.files.list(purpose="batch")]

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "round-trip"},
    )
    deadline = time.monotonic() + 120
    while (batch := client.batches.retrieve(batch.id)).status not in ("completed", "failed"):
        assert time.monotonic() < deadline, batch.status
        time.sleep(0.2)
    assert batch.status == "completed" and batch.metadata == {"job": "round-trip"}
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (6, 4, 2)
    assert batch.id in [item.id for item in client.batches.list()]

    assert batch.output_file_id and batch.error_file_id
    output = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()]
    assert [line["custom_id"] for line in output] == [f"doc-{n}" for n in range(4)]
    for line in output:
        completion = line["response"]["body"]
        assert completion["model"] == "hunyuan-ocr-tiny" and completion["usage"]["completion_tokens"] > 0
    errors = {
        line["custom_id"]: line for line in map(json.loads, client.files.content(batch.error_file_id).text.splitlines())
    }
    assert errors["wrong-model"]["response"]["status_code"] == 404
    assert errors[None]["error"]["code"] == "invalid_request"

    # Batch answers are the same answers as interactive chat gives (one chat service serves both).
    interactive = client.chat.completions.create(**json.loads(_line("doc-0", seed=0))["body"])
    assert output[0]["response"]["body"]["choices"][0]["message"]["content"] == interactive.choices[0].message.content

    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_an_unknown_endpoint_is_refused_with_400(client: OpenAI) -> None:
    uploaded = client.files.create(file=("r.jsonl", _line("a", 1).encode()), purpose="batch")
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    assert refused.value.body["param"] == "endpoint"  # type: ignore[index]
