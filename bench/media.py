"""Media benchmark: a 12 MP photo-like JPEG (data URL) → model-ready image, three ways, in one run.

    python -m bench.media [--repeat 5] [--json out.json]

1. ours       — gateway.media.loader: base64 → JPEG draft-mode decode near the target → EXIF → resize
2. naive      — base64 → full decode → RGB → resize to the same target
3. vllm       — vLLM's MediaConnector.fetch_image (its data-URL path) → the HunYuanVL processor's resize
All produce the size HunyuanOCR 1.0's processor would use (max 2048×2048 area). Prints seconds per image
and the ratios; the target is ours ≥ 3× faster than vLLM's path.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from adapters.images import ImageBudget
from gateway.media.loader import MediaLimits, decode_image, parse_data_url

HUNYUANOCR_BUDGET = ImageBudget(min_pixels=512 * 512, max_pixels=2048 * 2048, factor=32)


def photo_like_image(width: int = 4000, height: int = 3000, seed: int = 0) -> Image.Image:
    """Smooth gradients plus noise and edges, as a phone camera's picture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([(x / width) * 200, (y / height) * 180, ((x + y) / (width + height)) * 220], axis=-1)
    noise = rng.normal(0, 12, size=(height, width, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").filter(ImageFilter.SMOOTH)


def jpeg(image: Image.Image) -> bytes:
    """Compressed like a phone camera does (quality 90)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_like_jpeg(width: int = 4000, height: int = 3000, seed: int = 0) -> bytes:
    return jpeg(photo_like_image(width, height, seed))


def ours(url: str) -> Image.Image:
    _, data = parse_data_url(url, max_bytes=64 * 2**20, param="bench")
    return decode_image(data, HUNYUANOCR_BUDGET, MediaLimits(), "auto", "bench")


def naive(url: str) -> Image.Image:
    _, data = parse_data_url(url, max_bytes=64 * 2**20, param="bench")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return image.resize(HUNYUANOCR_BUDGET.target_size(*image.size), Image.Resampling.BICUBIC)


def vllm_path() -> Callable[[str], object]:
    from transformers.image_utils import SizeDict
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil
    from vllm.multimodal.media import MediaConnector

    connector = MediaConnector()
    processor = HunYuanVLImageProcessorPil(min_pixels=512 * 512, max_pixels=2048 * 2048)

    size = SizeDict(shortest_edge=512 * 512, longest_edge=2048 * 2048)

    def run(url: str) -> object:
        image = connector.fetch_image(url)
        # The processor's resize step, which vLLM runs on the full-size image before the vision tower.
        return processor.resize(np.asarray(image).transpose(2, 0, 1), size=size, resample=None, factor=32)

    return run


def timed(function: Callable[[str], object], url: str, repeat: int) -> float:
    function(url)  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function(url)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    url = "data:image/jpeg;base64," + base64.b64encode(photo_like_jpeg()).decode()
    assert ours(url).size == naive(url).size
    results = {"ours": timed(ours, url, args.repeat), "naive": timed(naive, url, args.repeat)}
    results["vllm"] = timed(vllm_path(), url, args.repeat)
    print("| path | seconds per 12 MP JPEG | vs ours |")
    print("|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.4f} | {seconds / results['ours']:.2f}x |")
    summary = {
        **results,
        "naive_over_ours": results["naive"] / results["ours"],
        "vllm_over_ours": results["vllm"] / results["ours"],
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
