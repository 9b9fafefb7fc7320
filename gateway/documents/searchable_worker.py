"""Makes a searchable PDF in a separate, resource-limited process (OCRmyPDF allows one run per process):
``python -m gateway.documents.searchable_worker FOLDER GATEWAY_PID CPU_SECONDS``.

``FOLDER`` holds ``source.pdf`` or ``source.image`` (the file as uploaded) and ``lines.json`` (``page_lines``:
each page's lines, boxes as shares of the page as the gateway rendered it). The worker writes ``searchable.pdf``
there and exits 0, printing ``{"pdfa": true|false}``; exit code 4 (``INVALID_INPUT``) means the input is not a
PDF or image it can make searchable, and the message saying why is printed; anything else means it failed
(details on stderr).

OCRmyPDF runs with our plugin reading the lines file, a thread per core, with:

- ``mode="skip"`` (``--skip-text``): pages that already have text are left exactly as they are and only the
  others get a text layer — what people expect of a PDF that is partly born-digital. ``--force-ocr`` would
  rasterise every page (losing vector text and the original images), and ``--redo-ocr`` masks a page's visible
  text from the OCR image, which lines read from the whole page would then duplicate.
- ``optimize=0``, no deskew, no cleaning, no rotation: the pages' content and images go through untouched.
- ``output_type="auto"``: PDF/A-2b when it can be had, else a regular PDF, never a failure. OCRmyPDF first adds
  the PDF/A declarations itself (pikepdf), passing every image through unchanged, and keeps the result if
  pikepdf's PDF/A validator approves it — true of scans. Only a file that needs converting (fonts not embedded,
  colours without a profile) goes through Ghostscript, where ``optimize=0`` makes OCRmyPDF ask for lossless
  images (JPEGs passed through, other images re-compressed losslessly, pixels unchanged). Without Ghostscript
  such a file stays a regular PDF. The result says which it is.

An image is first made a one-page PDF by img2pdf, which embeds JPEG, PNG and TIFF data as it is (at the image's
DPI, or 200 when it has none, the resolution the gateway renders PDFs at); other images (HEIF, WebP, alpha
channels, flipped EXIF orientations) are converted to PNG first.

The child starts by importing this module, so it imports little: OCRmyPDF comes once the limits are set.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from pathlib import Path

from adapters.cpu import usable_cores
from adapters.parent_death import die_with
from gateway.documents.page_lines import LINES_FILE, PageLines, TextLine, onto_media_box, read_lines, write_lines

MEMORY_LIMIT = 4 * 2**30
INVALID_INPUT = 4
DEFAULT_IMAGE_DPI = 200
PLUGIN = "gateway.documents.ocrmypdf_plugin"
SOURCE_PDF, SOURCE_IMAGE, LINES, OUTPUT = "source.pdf", "source.image", "lines.json", "searchable.pdf"


class InvalidInput(Exception):
    """The input is not a PDF or image that can be made searchable; the message says why."""


def _limit_resources(cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def image_as_pdf(source: Path) -> Path:
    """The image as a one-page PDF beside it."""
    import img2pdf
    from PIL import Image, UnidentifiedImageError

    # What img2pdf cannot embed as it is; the image is converted to PNG for it then.
    refused = (
        img2pdf.AlphaChannelError,
        img2pdf.ExifOrientationError,
        img2pdf.ImageOpenError,
        img2pdf.JpegColorspaceError,
        img2pdf.UnsupportedColorspaceError,
    )
    target = source.with_name("image.pdf")
    try:
        with Image.open(source) as image:
            dpi = image.info.get("dpi")
        layout = {} if dpi else {"layout_fun": img2pdf.get_fixed_dpi_layout_fun((DEFAULT_IMAGE_DPI,) * 2)}
        try:
            target.write_bytes(img2pdf.convert(str(source), **layout))
        except refused:
            target.write_bytes(img2pdf.convert(_as_png(source), **layout))
    except (UnidentifiedImageError, OSError, ValueError, *refused) as error:
        raise InvalidInput("The file is neither a PDF nor an image that can be read.") from error
    return target


def _as_png(source: Path) -> bytes:
    import io

    import pillow_heif
    from PIL import Image, ImageOps

    pillow_heif.register_heif_opener()
    with Image.open(source) as image:
        dpi = image.info.get("dpi", (DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI))
        upright = ImageOps.exif_transpose(image)
        rgb = upright.convert("RGB") if upright.mode not in ("L", "RGB") else upright
        buffer = io.BytesIO()
        rgb.save(buffer, "PNG", dpi=dpi)
    return buffer.getvalue()


def on_media_boxes(pdf: Path, pages: dict[int, list[TextLine]]) -> list[PageLines]:
    """Each page's lines as shares of its MediaBox (what OCRmyPDF renders); lines of pages the PDF lacks are
    dropped. Raises ``InvalidInput`` for a PDF that cannot be opened."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(pdf)
    except pypdfium2.PdfiumError as error:
        if "password" in str(error).lower():
            raise InvalidInput("The PDF is encrypted: send it decrypted.") from error
        raise InvalidInput(f"The PDF could not be read ({error}).") from error
    moved = []
    with document:
        for number, lines in sorted(pages.items()):
            if 1 <= number <= len(document):
                page = document[number - 1]
                crop, media, rotation = page.get_cropbox(), page.get_mediabox(), page.get_rotation()
                moved_lines = [TextLine(line.text, onto_media_box(line.box, crop, media, rotation)) for line in lines]
                moved.append(PageLines(number, moved_lines))
    return moved


def make_searchable(folder: Path) -> bool:
    """Writes ``folder/searchable.pdf``; whether it is PDF/A."""
    pdf = folder / SOURCE_PDF
    if not pdf.exists():
        pdf = image_as_pdf(folder / SOURCE_IMAGE)
    lines = folder / "ocr-lines.json"
    write_lines(lines, on_media_boxes(pdf, read_lines(folder / LINES)))
    os.environ[LINES_FILE] = str(lines)
    return run_ocrmypdf(pdf, folder / OUTPUT)


def run_ocrmypdf(pdf: Path, output: Path) -> bool:
    """OCRmyPDF on ``pdf`` with our plugin (the lines file named in the environment); whether it made PDF/A."""
    import ocrmypdf
    import pikepdf
    from ocrmypdf.exceptions import EncryptedPdfError, InputFileError, UnsupportedImageFormatError

    try:
        ocrmypdf.ocr(
            pdf,
            output,
            plugins=[PLUGIN],
            mode="skip",
            optimize=0,
            output_type="auto",
            jobs=usable_cores(),  # pages in parallel, as plain ocrmypdf does (the engine's reading is done by now)
            use_threads=True,
            progress_bar=False,
        )
    except (EncryptedPdfError, pikepdf.PasswordError) as error:
        raise InvalidInput("The PDF is encrypted: send it decrypted.") from error
    except (InputFileError, UnsupportedImageFormatError, pikepdf.PdfError) as error:
        raise InvalidInput(f"The PDF cannot be made searchable: {error}") from error
    with pikepdf.open(output) as result:
        return bool(result.open_metadata().pdfa_status)


def main() -> int:
    folder, gateway_pid, cpu_seconds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    die_with(gateway_pid)  # a run must not outlive a SIGKILLed gateway
    _limit_resources(cpu_seconds)
    try:
        pdfa = make_searchable(folder)
    except InvalidInput as error:
        print(str(error))
        return INVALID_INPUT
    except Exception:
        traceback.print_exc()
        return 1
    print(json.dumps({"pdfa": pdfa}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
