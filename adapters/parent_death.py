"""vLLM's engine processes die with the process that started them, even when it is SIGKILLed.

vLLM runs the model in child processes: an EngineCore, which starts the Worker(s). A gateway that exits
normally stops them; one killed by SIGKILL (the OOM killer, ``kill -9``, a container's hard stop) cannot. vLLM's
Workers watch their EngineCore through a pipe, but the EngineCore watches nobody, so both lived on under init,
holding the model's memory — on a GPU, the memory the restarted gateway needs to load the model.

Our vLLM plugin calls ``install()`` in every vLLM process. A process that ``multiprocessing`` started
(EngineCore and Workers; in ``vllm serve``, also its API-server and coordinator processes, which should die
with it too) asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); ``spawn`` children do
this when they load the plugin, ``fork`` children (vLLM's default on a GPU, where they do not load plugins
again) through a ``multiprocessing`` after-fork hook. The main process — the gateway or ``vllm serve``, whose
parent is a shell or a supervisor — is never armed. Processes that are not ``multiprocessing`` children, such
as ``multiprocessing``'s resource tracker (which must outlive the engine to unlink its shared memory) or the
PDF renderer (which arms itself with ``die_with``, given the gateway's pid), are left alone here.

The kernel's "parent" is the *thread* that started the child: a child started from a thread that ends before
its process does is killed then. vLLM starts its Workers from the EngineCore's main thread, and the gateway
creates its engine on asyncio's default executor, whose threads live as long as the event loop.

Linux only: elsewhere ``install()`` does nothing.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_hook_installed = False


def install() -> None:
    """Arms this process if ``multiprocessing`` started it, and every ``fork`` child it starts from now on."""
    global _hook_installed
    if not sys.platform.startswith("linux"):
        return
    die_with_parent()
    if not _hook_installed:
        # Runs in each multiprocessing child this process forks, once it knows its parent (forked children
        # inherit the hook, so a Worker forked by a forked EngineCore is armed too).
        multiprocessing.util.register_after_fork(die_with_parent, lambda arm: arm())
        _hook_installed = True


def die_with_parent() -> None:
    """SIGKILL for this process when its ``multiprocessing`` parent dies; nothing in a process it did not start."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with(parent.pid)


def die_with(parent_pid: int) -> None:
    """SIGKILL for this process when ``parent_pid``, the process that started it, dies (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    # A parent that died before the call sends no signal: we were already handed to init (or a subreaper).
    # A parent that is alive but not our direct parent (a wrapper that forked) is not our business.
    if os.getppid() != parent_pid and not _exists(parent_pid):
        os.kill(os.getpid(), signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
