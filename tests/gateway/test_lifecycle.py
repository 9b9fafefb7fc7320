"""The engine watchdog: a dead in-process engine stops the server; a pool of replicas that heals itself does not."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.lifecycle import Lifecycle
from tests.fakes import FakeEngine
from tests.waiting import wait_until_async


@dataclass
class DyingEngine(FakeEngine):
    def is_healthy(self) -> bool:
        return False  # dies right after it started


@dataclass
class SelfHealingEngine(DyingEngine):
    self_healing: bool = True


def watch(engine: FakeEngine) -> tuple[str, list[str]]:
    """The watchdog's state once its task has ended (it stopped the server, or has nothing to watch), and the stops
    it asked for."""
    failures: list[str] = []

    async def run() -> str:
        watchdog = Lifecycle(engine, on_failure=lambda: failures.append("stopped"))
        watchdog.start()
        await wait_until_async(lambda: asyncio.all_tasks() == {asyncio.current_task()}, 10, "the watchdog to end")
        await watchdog.stop()
        return watchdog.state

    return asyncio.run(run()), failures


def test_a_dead_engine_stops_the_server() -> None:
    assert watch(DyingEngine()) == ("failed", ["stopped"])


def test_an_outage_of_a_self_healing_engine_keeps_the_server_up() -> None:
    assert watch(SelfHealingEngine()) == ("ready", [])
