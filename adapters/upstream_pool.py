"""The replicas behind the ``upstream`` engine: their health, their load, and which one serves a request.

Routing is rendezvous hashing with bounded loads: a request about an image
goes to the healthy replica that ranks first for that image's digest — so a
follow-up about the same image finds it in that replica's prefix cache —
unless that replica already holds clearly more than its share of the
requests in flight, in which case the next one in the image's ranking takes
it. Requests without an image go to the replica with the fewest requests in
flight. Removing a replica only moves the images that ranked it first.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from adapters.engine import EngineStats
from adapters.errors import EngineDown

# A replica keeps its images while it holds at most this times the average load (Mirrokni et al.'s c).
LOAD_FACTOR = 1.25


@dataclass(eq=False)
class Replica:
    """One OpenAI-compatible server, as the health checks and the requests through it last saw it."""

    base_url: str  # the OpenAI base URL, ending in /v1
    healthy: bool = False
    model: str | None = None  # the model id it serves
    max_model_len: int | None = None
    outstanding: int = 0  # requests in flight through it
    routed: int = 0  # requests sent to it since start
    failures: int = 0  # connections or streams that failed before an answer
    stats: EngineStats = field(default_factory=EngineStats)
    prompt_checked: bool = False  # its rendering of the chat template was compared with ours

    @property
    def root_url(self) -> str:
        """Where vLLM serves /health and /metrics."""
        return self.base_url.removesuffix("/v1")


def base_url(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1/`` → ``http://host:8000/v1``."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class ReplicaPool:
    def __init__(self, urls: list[str]) -> None:
        self.replicas = [Replica(base_url(url)) for url in dict.fromkeys(urls)]

    def healthy(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.healthy]

    def choose(self, affinity_key: bytes | None, tried: list[Replica]) -> Replica:
        """The replica for a request; ones already ``tried`` only when no other healthy one is left."""
        healthy = self.healthy()
        if not healthy:
            raise EngineDown("No upstream replica is healthy; retry later.", retry_after=5)
        candidates = [replica for replica in healthy if replica not in tried] or healthy
        if affinity_key is None:
            return min(candidates, key=lambda replica: (replica.outstanding, replica.routed))
        ranked = sorted(candidates, key=lambda replica: _score(affinity_key, replica), reverse=True)
        # Some replica is always under the bound: they cannot all hold more than the average.
        bound = math.ceil(LOAD_FACTOR * (sum(replica.outstanding for replica in candidates) + 1) / len(candidates))
        return next(replica for replica in ranked if replica.outstanding < bound)


def _score(key: bytes, replica: Replica) -> bytes:
    return hashlib.blake2b(key + replica.base_url.encode(), digest_size=8).digest()
