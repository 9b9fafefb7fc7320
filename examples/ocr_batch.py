"""OCR a folder of images and PDFs into text and JSON files, several at a time, with a progress bar.

    python examples/ocr_batch.py scans/ out/                      # out/<name>.txt and out/<name>.json per file
    python examples/ocr_batch.py scans/ out/ --task table --concurrency 8

Uses the gateway's simple API (``POST /ocr``): a PDF comes back page by page. Files already done (their .json
exists) are skipped, so an interrupted run picks up where it stopped. Server and key: --base-url /
OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), --api-key / OPENAI_API_KEY.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import os
import sys
import time
from pathlib import Path

import httpx
from tqdm import tqdm

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".pdf"}


async def ocr_file(client: httpx.AsyncClient, path: Path, out_dir: Path, params: dict[str, str]) -> int:
    """OCR one file into ``out_dir``; returns its page count."""
    mime = "application/pdf" if path.suffix.lower() == ".pdf" else mimetypes.guess_type(path.name)[0] or "image/png"
    response = await client.post("/ocr", params=params, content=path.read_bytes(), headers={"Content-Type": mime})
    if response.status_code != 200:
        raise RuntimeError(f"{path.name}: HTTP {response.status_code}: {response.text[:200]}")
    result = response.json()
    (out_dir / f"{path.stem}.txt").write_text(result["text"] + "\n", encoding="utf-8")
    (out_dir / f"{path.stem}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return len(result["pages"] or [result])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--task", default="document")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=None, help="cap per page")
    parser.add_argument("--base-url", default=os.environ.get("OCR_GATEWAY_URL", "http://127.0.0.1:8000/v1"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    args = parser.parse_args()

    files = sorted(p for p in args.input_dir.rglob("*") if p.suffix.lower() in SUFFIXES)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    todo = [path for path in files if not (args.output_dir / f"{path.stem}.json").exists()]
    params = {"task": args.task, **({"max_tokens": str(args.max_tokens)} if args.max_tokens else {})}
    limit = asyncio.Semaphore(args.concurrency)
    pages, failures = 0, []
    started = time.perf_counter()

    async with httpx.AsyncClient(
        base_url=args.base_url.removesuffix("/").removesuffix("/v1"),
        headers={"Authorization": f"Bearer {args.api_key}"},
        timeout=httpx.Timeout(600, connect=10),
    ) as client:
        with tqdm(total=len(todo), unit="file", desc="OCR") as progress:

            async def one(path: Path) -> None:
                nonlocal pages
                async with limit:
                    try:
                        done = await ocr_file(client, path, args.output_dir, params)
                        pages += done
                    except (RuntimeError, httpx.HTTPError) as error:
                        failures.append(f"{path.name}: {error}")
                    progress.update()

            await asyncio.gather(*(one(path) for path in todo))

    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    print(
        f"{len(todo) - len(failures)} files ({pages} pages) OCR'd into {args.output_dir} in"
        f" {time.perf_counter() - started:.1f} s; {len(files) - len(todo)} already done, {len(failures)} failed"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
