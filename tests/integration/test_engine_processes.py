"""vLLM's engine processes die with a gateway killed by SIGKILL.

The OOM killer, ``kill -9`` and a container runtime's hard stop give the gateway no chance to stop its
EngineCore and Worker. They used to live on under init (a pair was found 47 minutes later, 5 GB resident); on
a GPU they would hold the memory the restarted gateway needs to load the model.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from tests.servers import TINY_ENGINE_ARGS, port_is_free, sigkill_and_watch_tree, start_gateway, stop_gateway

FAST_START = (*TINY_ENGINE_ARGS, "--kv-cache-gb", "0.5", "--enforce-eager")


def _shared_memory(pid: int) -> set[Path]:
    """The ``/dev/shm`` files (vLLM's message queues, multiprocessing's semaphores) mapped by ``pid``'s tree."""
    tree = psutil.Process(pid).children(recursive=True)
    return {
        Path(region.path) for process in tree for region in process.memory_maps() if region.path.startswith("/dev/shm/")
    }


def test_engine_processes_die_with_a_sigkilled_gateway(tiny_checkpoint: Path, tmp_path: Path) -> None:
    process, root_url = start_gateway(str(tiny_checkpoint), tmp_path / "gateway.log", *FAST_START)
    try:
        shared_memory = _shared_memory(process.pid)
        killed = sigkill_and_watch_tree(process)
    finally:
        stop_gateway(process)
    left = sorted(str(path) for path in shared_memory if path.exists())
    print(
        f"\nSIGKILLed gateway: {len(killed.descendants)} processes below it, the last gone after {killed.seconds:.2f} s"
    )
    assert any("EngineCore" in described for described in killed.descendants), killed.descendants
    assert any("Worker" in described for described in killed.descendants), killed.descendants
    assert killed.survivors == [], f"outlived the gateway by {killed.seconds:.0f} s: {killed.survivors}"
    assert port_is_free(int(root_url.rsplit(":", 1)[1]))
    # multiprocessing's resource tracker unlinks them once the last engine process is gone.
    assert left == [], f"{len(shared_memory)} shared-memory files mapped, left behind: {left}"
