"""``--engine upstream`` in front of two real vLLM OpenAI servers (``python -m vllm.entrypoints.openai.api_server``)
serving the tiny checkpoint: distribution, image affinity, agreement with the in-process engine, streaming,
disconnect aborts, and failover when the replicas are killed. The tests run in file order; the last ones kill
the replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from adapters.engine import EngineRequest, SamplingOptions, Turn
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from adapters.upstream_engine import HEALTH_INTERVAL, UpstreamEngine
from gateway.config import EngineSettings
from gateway.lifecycle import WATCH_INTERVAL
from tests.conftest import Gateway
from tests.images import image_part, make_image
from tests.servers import GatewayDidNotStart, launch_vllm_server, start_gateway, stop_gateway, wait_until_healthy
from tests.waiting import wait_until

MAX_TOKENS = 16
# The first test also waits for the pool: two vLLM servers (each given 420 s to start), then a gateway.
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Replica:
    process: subprocess.Popen[bytes]
    root_url: str

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def kill(self) -> None:
        """SIGKILL the server and its engine processes, as a crashed machine would go."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


@dataclass(frozen=True)
class Pool:
    gateway: Gateway
    replicas: list[Replica]
    client: OpenAI


@pytest.fixture(scope="module")
def pool(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    logs = tmp_path_factory.mktemp("upstream")
    replicas: list[Replica] = []
    try:
        # Both replicas load at the same time; the gateway then starts against them.
        for index in range(2):
            replicas.append(Replica(*launch_vllm_server(str(tiny_checkpoint), logs / f"vllm-{index}.log")))
        for index, replica in enumerate(replicas):
            wait_until_healthy(replica.process, replica.root_url, logs / f"vllm-{index}.log", timeout=420)
        urls = [argument for replica in replicas for argument in ("--upstream", replica.base_url)]
        process, root_url = start_gateway(str(tiny_checkpoint), logs / "gateway.log", "--engine", "upstream", *urls)
    except BaseException as error:  # also an interrupted start: the replicas lead process groups of their own
        for replica in replicas:
            replica.kill()
        if isinstance(error, GatewayDidNotStart):
            pytest.fail(str(error))
        raise
    gateway = Gateway(
        f"{root_url}/v1", root_url, "hunyuan-ocr-tiny", tiny_checkpoint, logs / "gateway.log", process.pid
    )
    try:
        yield Pool(gateway, replicas, OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=120))
    finally:
        stop_gateway(process)
        for replica in replicas:
            replica.kill()


def ocr_messages(seed: int, instruction: str = "Extract all text in this image.") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [image_part(make_image(160, 128, seed=seed)), {"type": "text", "text": instruction}],
        }
    ]


def ask(client: OpenAI, model: str, messages: list[dict], **options: object) -> openai.types.chat.ChatCompletion:
    options = {"max_tokens": MAX_TOKENS, "temperature": 0, **options}
    return client.chat.completions.create(model=model, messages=messages, **options)  # type: ignore[call-overload]


def metric(url: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples of one metric from a Prometheus endpoint, keyed by their labels."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def routed(pool: Pool) -> list[float]:
    """Requests the gateway sent to each replica so far."""
    samples = metric(pool.gateway.root_url, "ocr_gateway_upstream_requests_total")
    return [samples[frozenset({("replica", replica.base_url)})] for replica in pool.replicas]


def finished(replica: Replica, reason: str | None = None) -> float:
    """Requests the replica's vLLM finished (with ``reason``: stop, length, abort …)."""
    samples = metric(replica.root_url, "vllm:request_success_total")
    return sum(value for labels, value in samples.items() if reason is None or ("finished_reason", reason) in labels)


def test_requests_about_different_images_spread_over_both_replicas(pool: Pool) -> None:
    before = routed(pool)
    served_before = [finished(replica) for replica in pool.replicas]
    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(lambda seed: ask(pool.client, pool.gateway.model, ocr_messages(seed)), range(16)))
    assert all(answer.choices[0].message.content for answer in answers)
    sent = [after - earlier for after, earlier in zip(routed(pool), before, strict=True)]
    served = [finished(replica) - earlier for replica, earlier in zip(pool.replicas, served_before, strict=True)]
    print(f"\n16 requests, distinct images: sent per replica {sent}, finished per replica (vLLM's count) {served}")
    assert sum(sent) == 16 and all(count > 0 for count in sent)
    assert served == sent  # the replicas' own counters agree


def test_requests_about_the_same_image_go_to_the_same_replica(pool: Pool) -> None:
    for seed in (100, 101, 102):
        before = routed(pool)
        for instruction in ("Extract all text in this image.", "Parse the table in the image into HTML.", "OCR"):
            ask(pool.client, pool.gateway.model, ocr_messages(seed, instruction))
        sent = [after - earlier for after, earlier in zip(routed(pool), before, strict=True)]
        print(f"image {seed}: 3 requests sent per replica {sent}")
        assert sorted(sent) == [0, 3]


def agreement_requests() -> list[dict]:
    first, second = image_part(make_image(96, 160, seed=21)), image_part(make_image(200, 64, seed=22))
    return [
        {"messages": ocr_messages(20)},
        {"messages": [{"role": "user", "content": [first, {"type": "text", "text": "Compare them."}, second]}]},
        {
            "messages": [
                *ocr_messages(23),
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Now translate it to English."},
            ]
        },
        {"messages": [{"role": "system", "content": "You read receipts."}, *ocr_messages(24)], "max_tokens": 40},
        {"messages": ocr_messages(25), "extra_body": {"task": "spotting"}},
        {
            "messages": ocr_messages(26),
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"total": {"type": "string"}}}},
            },
            "max_tokens": 40,
        },
    ]


@pytest.mark.parametrize("index", range(len(agreement_requests())))
def test_greedy_answers_equal_the_in_process_engines(pool: Pool, gateway: Gateway, index: int) -> None:
    options = agreement_requests()[index]
    in_process = OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=120)
    expected = ask(in_process, gateway.model, **options)  # type: ignore[arg-type]
    actual = ask(pool.client, pool.gateway.model, **options)  # type: ignore[arg-type]
    assert actual.choices[0].message.content == expected.choices[0].message.content
    assert actual.choices[0].finish_reason == expected.choices[0].finish_reason
    assert actual.usage is not None and expected.usage is not None
    assert (actual.usage.prompt_tokens, actual.usage.completion_tokens) == (
        expected.usage.prompt_tokens,
        expected.usage.completion_tokens,
    )


def test_stream_passes_the_upstreams_deltas_through_with_usage(pool: Pool) -> None:
    messages = ocr_messages(30)
    whole = ask(pool.client, pool.gateway.model, messages, max_tokens=48)
    chunks = list(
        pool.client.chat.completions.create(
            model=pool.gateway.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=48,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 3  # token by token, not one buffered piece
    assert "".join(pieces) == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens  # type: ignore[union-attr]


def test_a_follow_up_about_the_same_pages_reuses_the_replicas_prefix_cache(pool: Pool) -> None:
    # Four pages: a prompt several KV-cache blocks long (the cache reuses whole blocks).
    pages = [image_part(make_image(256, 256, seed=60 + index)) for index in range(4)]
    first_turn = [{"role": "user", "content": [*pages, {"type": "text", "text": "Extract all text in this image."}]}]
    first = ask(pool.client, pool.gateway.model, first_turn)
    follow_up = [
        *first_turn,
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Now translate it into English."},
    ]
    second = ask(pool.client, pool.gateway.model, follow_up)
    assert first.usage is not None and second.usage is not None
    cached = second.usage.prompt_tokens_details.cached_tokens  # type: ignore[union-attr]
    assert cached >= first.usage.prompt_tokens // 2  # same first page → same replica, whose cache has the prefix


def total(pool: Pool, name: str) -> float:
    """A vLLM metric summed over the replicas still running."""
    return sum(
        sum(metric(replica.root_url, name).values()) for replica in pool.replicas if replica.process.poll() is None
    )


def test_closing_the_engines_stream_aborts_the_upstream_request(pool: Pool, prompts: HunyuanPromptBuilder) -> None:
    # Driven through the engine itself: the tiny model writes 7,500 tokens in about a second, faster than an HTTP
    # client's disconnect travels through the gateway's SSE layer, so only a close right after the first token
    # tells an abort from a finished answer. On a busy machine vLLM's server can stream far behind its engine (its
    # output loop does not yield while engine outputs queue up): a first token that comes late may come after the
    # whole answer was written, so such a try proves nothing and is repeated.
    turns = [Turn("user", [make_image(160, 128, seed=40), "Extract all text in this image."])]
    prompt = prompts.build(turns)
    sampling = SamplingOptions(max_tokens=7500, temperature=0, stop_token_ids=prompts.stop_token_ids)
    settings = EngineSettings(upstreams=tuple(replica.base_url for replica in pool.replicas))

    async def seconds_to_first_words_then_close(request: EngineRequest) -> float:
        engine = UpstreamEngine(settings, str(pool.gateway.checkpoint))
        await engine.start()
        try:
            sent = time.monotonic()
            async with aclosing(engine.generate(request)) as outputs:
                assert (await anext(outputs)).choices
                return time.monotonic() - sent
        finally:
            await engine.shutdown()

    def ran_to_the_end() -> float:
        return sum(finished(replica, "length") for replica in pool.replicas)

    waits: list[float] = []
    for attempt in range(10):  # a second apart, so a busy moment of the machine can pass
        request = EngineRequest(f"chatcmpl-abort-{attempt}", prompt.text, prompt.images, sampling, turns=prompt.turns)
        generated_before, ended_before = total(pool, "vllm:generation_tokens_total"), ran_to_the_end()
        first_words = asyncio.run(seconds_to_first_words_then_close(request))
        wait_until(lambda: total(pool, "vllm:num_requests_running") == 0, 10, "the replicas to run no request")
        if first_words < 0.3:  # well within the second the whole answer takes
            break
        waits.append(round(first_words, 2))
        time.sleep(1)
    else:
        pytest.skip(f"the replicas' first words came after {waits} s: too late to tell an abort from an answer")
    generated = total(pool, "vllm:generation_tokens_total")
    time.sleep(1)
    assert total(pool, "vllm:generation_tokens_total") == generated  # nothing runs on
    assert ran_to_the_end() == ended_before  # aborted: vLLM did not finish it by length
    assert generated - generated_before < 1000  # stopped right after the close, far from its 7,500 tokens


def test_a_replicas_4xx_reaches_the_client_with_its_status_and_the_replica_keeps_serving(pool: Pool) -> None:
    messages = ocr_messages(45)
    with pytest.raises(openai.BadRequestError) as raised:
        ask(pool.client, pool.gateway.model, messages, n=2)  # vLLM refuses several greedy choices
    error = raised.value.response.json()["error"]
    assert error["type"] == "invalid_request_error" and "greedy" in error["message"]
    # The refused request left the image in the replica's input cache but not in its engine; vLLM then answers
    # the next request about it with an error event, and the gateway tries again.
    assert ask(pool.client, pool.gateway.model, messages).choices[0].message.content


def test_killed_replica_is_routed_around_and_requests_keep_succeeding(pool: Pool) -> None:
    victim, survivor = pool.replicas
    outcomes: list[tuple[float, bool]] = []  # (start time, succeeded)
    stop = threading.Event()

    def client_loop(worker: int) -> None:
        seed = 1000 * (worker + 1)
        while not stop.is_set():
            started = time.monotonic()
            seed += 1
            try:
                ask(pool.client, pool.gateway.model, ocr_messages(seed), max_tokens=32)
                outcomes.append((started, True))
            except openai.APIStatusError:
                outcomes.append((started, False))

    with ThreadPoolExecutor(4) as threads:
        workers = [threads.submit(client_loop, worker) for worker in range(4)]
        try:
            wait_until(lambda: len(outcomes) >= 4, 120, "the clients' first answers")
            killed_at = time.monotonic()
            victim.kill()
            # The clients go on with one replica: two answers each to requests sent after the kill, and two rounds
            # of the gateway's health checks.
            wait_until(
                lambda: (
                    sum(started > killed_at for started, _ in outcomes) >= 8
                    and time.monotonic() - killed_at >= 2 * HEALTH_INTERVAL
                ),
                120,
                "answers after the kill",
            )
        finally:
            stop.set()
        for worker in workers:
            worker.result()
    after_kill = [ok for started, ok in outcomes if started > killed_at]
    failed = [started for started, ok in outcomes if not ok]
    retried = metric(pool.gateway.root_url, "ocr_gateway_upstream_failures_total")[
        frozenset({("replica", victim.base_url)})
    ]
    print(
        f"\nfailover: {len(outcomes)} requests by 4 clients, a replica killed after their first 4 answers; "
        f"{len(after_kill)} started after the kill; {retried:.0f} retried on the survivor; {len(failed)} failed"
    )
    assert after_kill and all(after_kill)  # nothing sent after the kill fails
    assert len(failed) <= 4  # at most the requests the victim was answering at that moment
    assert httpx.get(f"{pool.gateway.root_url}/health").status_code == 200
    health = metric(pool.gateway.root_url, "ocr_gateway_upstream_healthy")
    assert health[frozenset({("replica", victim.base_url)})] == 0
    assert health[frozenset({("replica", survivor.base_url)})] == 1


def test_with_every_replica_down_requests_get_503_and_the_gateway_stays_up(pool: Pool) -> None:
    pool.replicas[1].kill()
    with pytest.raises(openai.APIStatusError) as raised:
        ask(pool.client, pool.gateway.model, ocr_messages(50))
    assert raised.value.status_code == 503
    error = raised.value.response.json()["error"]
    assert error["type"] == "service_unavailable" and error["message"]
    wait_until(lambda: httpx.get(f"{pool.gateway.root_url}/health").status_code == 503, 10, "/health to say 503")
    time.sleep(2 * WATCH_INTERVAL)  # two rounds of the watchdog that would have stopped an in-process gateway
    assert httpx.get(f"{pool.gateway.root_url}/v1/models").status_code == 200  # still serving
