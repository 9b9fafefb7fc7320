"""The folder command's inputs and outputs: which files it reads, what each result is called, and each input as
the images sent to the gateway (a PDF's pages rendered here, so no page limit applies)."""

from __future__ import annotations

import base64
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from gateway.media.loader import shown_size
from gateway.media.pdf_worker import page_images

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"})
SUFFIXES = {
    "txt": ".txt",
    "md": ".md",
    "json": ".json",
    "html": ".html",
    "doctags": ".doctags",
    "docling": ".docling.json",
    "chunks": ".chunks.json",
    "pdf": ".pdf",
}
"""``--format`` → the suffix added to the input's name (``a.png`` → ``a.png.md``)."""


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass(frozen=True)
class PageImage:
    """One image for the gateway: a data URL, and its size as shown (what boxes are measured in)."""

    url: str
    width: int
    height: int


class UnreadableInput(Exception):
    """An input that is not the image or PDF its name says."""


class OverwritesInput(Exception):
    """A result would take the place of its own input."""


def find_jobs(paths: list[Path], out: Path, output_format: str) -> list[Job]:
    """Every image/PDF under ``paths``, each with its output path (relative to the folder it was found in)."""
    jobs = []
    for root in paths:
        found = sorted(item for item in root.rglob("*") if item.is_file()) if root.is_dir() else [root]
        for source in found:
            if source.suffix.lower() in IMAGE_SUFFIXES or source.suffix.lower() == ".pdf":
                relative = source.relative_to(root) if root.is_dir() else Path(source.name)
                output = out / relative.with_name(output_name(relative.name, output_format))
                if output.resolve() == source.resolve():
                    raise OverwritesInput(f"{source} would be replaced by its own result: choose another --out.")
                jobs.append(Job(source, output))
    return jobs


def output_name(name: str, output_format: str) -> str:
    """The result's file name: the input's name and the format's suffix (``a.png.md``); a PDF made searchable keeps
    its name (``scan.pdf``), an image made into one gets ``.pdf`` added (``photo.jpg.pdf``: no clash with a
    ``photo.png`` or ``photo.pdf`` beside it)."""
    if output_format == "pdf" and name.lower().endswith(".pdf"):
        return name
    return name + SUFFIXES[output_format]


def image_page(name: str, data: bytes) -> PageImage:
    """An image file as it is sent, sized from its header."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = shown_size(image)
    except Exception as error:  # whatever Pillow raises, the file is not an image it can read
        raise UnreadableInput(f"cannot read the image: {error}") from None
    return PageImage(_data_url(mime, data), width, height)


def pdf_pages(data: bytes) -> list[PageImage]:
    """Every page as a PNG, at the resolution the gateway's PDF worker renders at (no page limit here).
    pdfium is not thread-safe: one thread at a time."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
        try:  # one rendered page in memory at a time, only the PNGs kept
            return [PageImage(_data_url("image/png", _png(image)), *image.size) for image in page_images(document)]
        finally:
            document.close()
    except Exception as error:  # pypdfium2 raises its own PdfiumError for broken files
        raise UnreadableInput(f"cannot read the PDF: {error}") from None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
