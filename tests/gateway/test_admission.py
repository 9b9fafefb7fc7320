"""Backpressure (``gateway/admission.py``): slots, the queue, 429 and 400, and clients that leave while queued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway import admission as admission_module
from gateway.admission import AdmissionControl, wait_for_slots
from gateway.app import build_app
from gateway.config import Settings
from gateway.errors import InvalidRequest, RateLimited
from tests.fakes import FakeEngine
from tests.waiting import wait_until_async

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


async def until(condition: Callable[[], bool]) -> None:
    await wait_until_async(condition, 5, "the admission queue to reach the expected state")


def test_admission_queues_up_to_its_limit_then_refuses_with_retry_after() -> None:
    async def scenario() -> None:
        admission = AdmissionControl(max_running=1, max_waiting=1)
        first = await admission.enter()
        queued = asyncio.create_task(admission.enter())
        await until(lambda: admission.waiting == 1)
        with pytest.raises(RateLimited) as refused:
            await admission.enter()
        assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "1"
        first.release()
        second = await queued
        assert (admission.running, admission.waiting) == (1, 0)
        second.release()
        second.release()  # releasing twice is harmless
        assert admission.running == 0

    asyncio.run(scenario())


def test_background_work_waits_out_a_full_queue_and_its_deadline_moves_by_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admission_module, "RETRY_AFTER_SECONDS", 0.01)

    async def scenario() -> None:
        admission = AdmissionControl(max_running=1, max_waiting=0)
        held = await admission.enter()
        waiting = asyncio.create_task(wait_for_slots(admission, 1, deadline=100.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # a 429 for a request; tried again for work in the background
        held.release()
        ticket, deadline = await waiting
        assert ticket.slots == 1 and admission.running == 1
        assert deadline >= 100.2  # the time spent waiting is not counted against the work

    asyncio.run(scenario())


def test_a_request_of_several_pages_holds_a_slot_each_up_to_the_running_limit() -> None:
    async def scenario() -> None:
        admission = AdmissionControl(max_running=2, max_waiting=4)
        three = await admission.enter(3)
        assert three.slots == 2 and admission.running == 2  # the third page waits for one of its own two
        one = asyncio.create_task(admission.enter())
        await until(lambda: admission.waiting == 1)
        assert not one.done()
        three.release()
        assert (await one).slots == 1 and admission.running == 1

    asyncio.run(scenario())


def test_requests_are_admitted_in_arrival_order_however_many_slots_they_ask_for() -> None:
    async def scenario() -> list[str]:
        admission = AdmissionControl(max_running=2, max_waiting=8)
        held = await admission.enter()
        order: list[str] = []

        async def request(name: str, count: int) -> None:
            ticket = await admission.enter(count)
            order.append(name)
            ticket.release()

        big = asyncio.create_task(request("two pages", 2))
        await until(lambda: admission.waiting == 2)
        small = asyncio.create_task(request("one page", 1))  # would fit now, but came later
        await until(lambda: admission.waiting == 3)
        held.release()
        await asyncio.gather(big, small)
        return order

    assert asyncio.run(scenario()) == ["two pages", "one page"]


def test_more_pages_than_slots_and_queue_together_is_a_400_and_more_than_the_room_left_a_429() -> None:
    async def scenario() -> None:
        admission = AdmissionControl(max_running=1, max_waiting=1)
        with pytest.raises(InvalidRequest, match="at most 2"):
            await admission.enter(3)
        held = await admission.enter()
        with pytest.raises(RateLimited):
            await admission.enter(2)
        held.release()
        assert (admission.running, admission.waiting) == (0, 0)

    asyncio.run(scenario())


def test_a_request_cancelled_while_queued_leaves_the_queue_and_takes_no_slot() -> None:
    async def scenario() -> None:
        admission = AdmissionControl(max_running=1, max_waiting=2)
        held = await admission.enter()
        gone = asyncio.create_task(admission.enter())
        await until(lambda: admission.waiting == 1)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert admission.waiting == 0
        held.release()
        assert admission.running == 0
        assert (await admission.enter()).slots == 1  # the slot went to nobody else

    asyncio.run(scenario())


def test_a_client_that_leaves_while_queued_frees_its_place_and_never_reaches_the_engine(
    prompts: HunyuanPromptBuilder,
) -> None:
    engine = FakeEngine()
    app = build_app(Settings(max_running_requests=1), engine, prompts, on_engine_failure=lambda: None)

    async def scenario() -> list[dict]:
        admission: AdmissionControl = app.state.admission
        held = await admission.enter()  # the one engine slot is busy
        body = json.dumps(HELLO).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        left = asyncio.Event()

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await left.wait()
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "query_string": b"",
            "app": app, "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
        }  # fmt: skip
        app.state.lifecycle.state = "ready"
        call = asyncio.create_task(app.router(scope, receive, send))
        await until(lambda: admission.waiting == 1)
        left.set()
        await asyncio.wait_for(call, 5)
        assert admission.waiting == 0
        held.release()
        assert admission.running == 0
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["status"] == 499
    assert engine.requests == []


def test_a_full_server_answers_429_in_openai_shape(prompts: HunyuanPromptBuilder) -> None:
    engine = FakeEngine()
    app = build_app(
        Settings(max_running_requests=1, max_queued_requests=0), engine, prompts, on_engine_failure=lambda: None
    )
    with TestClient(app) as client:
        app.state.admission.running = 1  # every slot taken
        response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert engine.requests == []
