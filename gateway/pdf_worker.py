"""Renders a PDF's pages in a separate, resource-limited process: ``python -m gateway.pdf_worker MAX_PAGES MAX_PIXELS``.

The PDF arrives on stdin. On success the pages go to stdout, each as a header
``width height`` (two big-endian uint32) followed by raw RGB bytes, and the exit
code is 0. Exit code 3 means too many pages (the count is printed); anything
else means the PDF could not be rendered. A hostile PDF can at worst crash or
exhaust this process, never the server.
"""

from __future__ import annotations

import math
import resource
import struct
import sys

MEMORY_LIMIT = 2 * 2**30
CPU_SECONDS = 60
MAX_RENDER_DPI = 200
TOO_MANY_PAGES = 3


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def main() -> int:
    max_pages, max_pixels = int(sys.argv[1]), int(sys.argv[2])
    _limit_resources()
    import pypdfium2

    document = pypdfium2.PdfDocument(sys.stdin.buffer.read())
    if len(document) > max_pages:
        print(len(document))
        return TOO_MANY_PAGES
    out = sys.stdout.buffer
    for page in document:
        width_pt, height_pt = page.get_size()
        # Sharp enough for OCR, but never more pixels than the model takes.
        scale = min(MAX_RENDER_DPI / 72, math.sqrt(max_pixels / max(width_pt * height_pt, 1.0)))
        image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil().convert("RGB")
        out.write(struct.pack(">II", image.width, image.height))
        out.write(image.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
