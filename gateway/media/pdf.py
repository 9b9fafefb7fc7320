"""PDF pages as images, rendered by ``gateway.media.pdf_worker`` in a child process with a deadline."""

from __future__ import annotations

import asyncio
import os
import sys

from PIL import Image

from gateway.errors import InvalidRequest
from gateway.media.pdf_worker import PAGE_HEADER, TOO_MANY_PAGES

RENDER_DPI = "render_dpi"  # Image.info key of a PDF page: the resolution it was rendered at


async def render_pdf(data: bytes, *, max_pages: int, max_pixels: int, timeout: float, param: str) -> list[Image.Image]:
    """One RGB image per page (``info[RENDER_DPI]`` its resolution); a 400 for a PDF that is broken, too long,
    or too slow to render."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.media.pdf_worker",
        str(max_pages),
        str(max_pixels),
        str(os.getpid()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate(data)
    except TimeoutError:
        raise InvalidRequest("The PDF took too long to render.", param=param) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode == TOO_MANY_PAGES:
        raise InvalidRequest(
            f"The PDF has {output.decode().strip()} pages; at most {max_pages} are accepted per request.", param=param
        )
    if process.returncode != 0:
        raise InvalidRequest("The PDF could not be read.", param=param)
    return _pages(output, param)


def _pages(output: bytes, param: str) -> list[Image.Image]:
    pages, offset = [], 0
    while offset < len(output):
        width, height, dpi = PAGE_HEADER.unpack_from(output, offset)
        offset += PAGE_HEADER.size
        page = Image.frombytes("RGB", (width, height), output[offset : offset + width * height * 3])
        page.info[RENDER_DPI] = dpi
        pages.append(page)
        offset += width * height * 3
    if not pages:
        raise InvalidRequest("The PDF has no pages.", param=param)
    return pages
