"""OCR one image with the official ``openai`` client, no streaming, and pick the task by name.

    python examples/ocr_sync.py invoice.png
    python examples/ocr_sync.py invoice.png --task fields --fields "invoice number,date,total"
    python examples/ocr_sync.py menu.jpg --task translate --target-lang en

Prints the answer, then (on stderr) the task the gateway ran and the token counts. Server, key and model:
--base-url / OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), --api-key / OPENAI_API_KEY, --model / MODEL.
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
    parser.add_argument("--task", default="text", help="text, document, table, formula, chart, spotting, fields, ...")
    parser.add_argument("--fields", default=None, help="comma-separated field names for --task fields")
    parser.add_argument("--target-lang", default=None, help="for --task translate, e.g. en, fr, zh")
    parser.add_argument("--base-url", default=os.environ.get("OCR_GATEWAY_URL", "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    parser.add_argument("--model", default=os.environ.get("MODEL"))
    parser.add_argument("--max-tokens", type=int, default=None)
    args = parser.parse_args()

    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = args.model or client.models.list().data[0].id
    mime = mimetypes.guess_type(args.image.name)[0] or "image/png"
    image_url = f"data:{mime};base64,{base64.b64encode(args.image.read_bytes()).decode()}"
    task = {"task": args.task}  # the gateway's extension: which official HunyuanOCR prompt to use
    if args.fields:
        task["fields"] = [name.strip() for name in args.fields.split(",")]
    if args.target_lang:
        task["target_lang"] = args.target_lang

    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}}]}],
        max_tokens=args.max_tokens,
        extra_body=task,
    )
    print(completion.choices[0].message.content)
    ocr = (completion.model_extra or {}).get("ocr") or {}
    usage = completion.usage
    if usage:
        print(
            f"[task {ocr.get('task')}: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens,"
            f" finish_reason {completion.choices[0].finish_reason}]",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
