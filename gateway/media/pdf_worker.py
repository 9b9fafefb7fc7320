"""Renders a PDF's pages in a separate, resource-limited process:
``python -m gateway.media.pdf_worker MAX_PAGES MAX_PIXELS GATEWAY_PID``.

The PDF arrives on stdin. On success the pages go to stdout, each as a header
``width height dpi`` (``PAGE_HEADER``: three big-endian uint32, dpi the rendering's) followed by raw RGB bytes,
and the exit code is 0. Exit code 3 (``TOO_MANY_PAGES``) means too many pages (the
count is printed); anything else means the PDF could not be rendered. A hostile PDF
can at worst crash or exhaust this process, never the server.

The child starts by importing this module, so it imports only the standard library; pypdfium2 comes once the
limits are set.
"""

from __future__ import annotations

import math
import resource
import struct
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from adapters.parent_death import die_with

if TYPE_CHECKING:
    from PIL import Image

MEMORY_LIMIT = 2 * 2**30
CPU_SECONDS = 60
MAX_RENDER_DPI = 200
# A page this much covered by one image is a scan: rendered at the image's own resolution when that is below
# MAX_RENDER_DPI, since an upscaled scan holds no more detail and reads worse (spaces between words blur away).
SCAN_COVER = 0.9
TOO_MANY_PAGES = 3
PAGE_HEADER = struct.Struct(">III")


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def page_images(pages: Iterable[Any], max_pixels: float = math.inf) -> Iterator[Image.Image]:
    """Each of a pypdfium2 document's ``pages`` as an RGB image at 200 DPI (a scan at its own resolution if
    lower), or fewer pixels if ``max_pixels`` asks; ``info["dpi"]`` says which."""
    for page in pages:
        width_pt, height_pt = page.get_size()
        # Sharp enough for OCR, but never more pixels than the model takes.
        dpi = min(MAX_RENDER_DPI, scan_dpi(page) or MAX_RENDER_DPI)
        scale = min(dpi / 72, math.sqrt(max_pixels / max(width_pt * height_pt, 1.0)))
        image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil().convert("RGB")
        image.info["dpi"] = (scale * 72, scale * 72)
        yield image


def scan_dpi(page: Any) -> float | None:
    """The resolution of the image covering at least ``SCAN_COVER`` of the page, if one does (a scan)."""
    import pypdfium2.raw as pdfium_c

    width_pt, height_pt = page.get_size()
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = image.get_bounds()
        if (right - left) * (top - bottom) < SCAN_COVER * width_pt * height_pt:
            continue
        width_px, height_px = image.get_px_size()
        # By areas, so that an image turned a quarter (or a rotated page) needs no special case.
        return math.sqrt(width_px * height_px / ((right - left) * (top - bottom))) * 72
    return None


def main() -> int:
    max_pages, max_pixels, gateway_pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    die_with(gateway_pid)  # a render must not outlive a SIGKILLed gateway
    _limit_resources()
    import pypdfium2

    document = pypdfium2.PdfDocument(sys.stdin.buffer.read())
    if len(document) > max_pages:
        print(len(document))
        return TOO_MANY_PAGES
    out = sys.stdout.buffer
    for image in page_images(document, max_pixels):
        out.write(PAGE_HEADER.pack(image.width, image.height, round(image.info["dpi"][0])))
        out.write(image.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
