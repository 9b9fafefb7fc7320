"""``docker/compose.replicas.yaml``: N vLLM replicas, one GPU each, behind one gateway that knows them all."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).parents[2] / "docker" / "compose.replicas.yaml"


def test_every_replica_gets_its_own_gpu_and_the_gateway_lists_every_replica() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    replicas = {name: service for name, service in services.items() if name.startswith("vllm-")}
    assert len(replicas) >= 2
    gpus = [
        tuple(device["device_ids"])
        for service in replicas.values()
        for device in service["deploy"]["resources"]["reservations"]["devices"]
    ]
    assert len(set(gpus)) == len(replicas) and all(len(ids) == 1 for ids in gpus)
    gateway = services["gateway"]
    upstreams = gateway["environment"]["OCR_GATEWAY_UPSTREAMS"].split(",")
    assert sorted(upstreams) == sorted(f"http://{name}:8000/v1" for name in replicas)
    assert gateway["environment"]["OCR_GATEWAY_ENGINE"] == "upstream"
    assert set(gateway["depends_on"]) == set(replicas)
