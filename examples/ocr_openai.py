"""OCR an image through the gateway with the official ``openai`` client, streaming the answer.

    python examples/ocr_openai.py scan.png
    python examples/ocr_openai.py menu.jpg --prompt "Translate this menu to English."

The server's address comes from --base-url or OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), the key
from --api-key or OPENAI_API_KEY, the model name from --model or MODEL, or else the first model the server lists.
"""

from __future__ import annotations

import argparse
import base64
import mimetypes
import os
import sys
from pathlib import Path

from openai import OpenAI


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path)
    parser.add_argument("--prompt", default="Extract all text in this image.")
    parser.add_argument("--base-url", default=os.environ.get("OCR_GATEWAY_URL", "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    parser.add_argument("--model", default=os.environ.get("MODEL"))
    parser.add_argument("--max-tokens", type=int, default=None)
    args = parser.parse_args()

    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = args.model or client.models.list().data[0].id
    mime = mimetypes.guess_type(args.image.name)[0] or "image/png"
    image_url = f"data:{mime};base64,{base64.b64encode(args.image.read_bytes()).decode()}"

    stream = client.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image_url}},
                    {"type": "text", "text": args.prompt},
                ],
            }
        ],
        temperature=0,
        max_tokens=args.max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        if chunk.usage:
            print(
                f"\n[{chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} completion tokens]",
                file=sys.stderr,
            )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
