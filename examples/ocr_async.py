"""OCR several images at once with ``AsyncOpenAI``: the gateway batches concurrent requests on the GPU.

    python examples/ocr_async.py page1.png page2.png receipt.jpg

Prints each image's text under its name, in the order given, then (on stderr) the wall time. Server, key and
model: --base-url / OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), --api-key / OPENAI_API_KEY, --model / MODEL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import mimetypes
import os
import sys
import time
from pathlib import Path

from openai import AsyncOpenAI


async def ocr(client: AsyncOpenAI, model: str, image: Path, max_tokens: int | None) -> str:
    mime = mimetypes.guess_type(image.name)[0] or "image/png"
    image_url = f"data:{mime};base64,{base64.b64encode(image.read_bytes()).decode()}"
    completion = await client.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image_url}},
                    {"type": "text", "text": "Extract the text in the image."},
                ],
            }
        ],
        max_tokens=max_tokens,
    )
    return completion.choices[0].message.content or ""


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--base-url", default=os.environ.get("OCR_GATEWAY_URL", "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    parser.add_argument("--model", default=os.environ.get("MODEL"))
    parser.add_argument("--max-tokens", type=int, default=None)
    args = parser.parse_args()

    async with AsyncOpenAI(base_url=args.base_url, api_key=args.api_key) as client:
        model = args.model or (await client.models.list()).data[0].id
        started = time.perf_counter()
        texts = await asyncio.gather(*(ocr(client, model, image, args.max_tokens) for image in args.images))
    for image, text in zip(args.images, texts, strict=True):
        print(f"== {image.name} ==\n{text}")
    print(f"[{len(texts)} images in {time.perf_counter() - started:.2f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
