"""Media for the model: data URLs, image URLs and PDFs → bounded RGB images, decoded off the event loop.

Every image leaves here already at the size the model's processor would pick
(the same arithmetic as HunyuanOCR's ``smart_resize``, BICUBIC), so the engine
does no resizing and a 12 MP photo is never decoded at full size (JPEG draft
mode decodes straight to about the target).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from adapters.images import CONTENT_ID, MAX_ASPECT_RATIO, Detail, ImageBudget
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gateway.media.fetch import MediaFetcher
from gateway.media.pdf import RENDER_DPI, render_pdf

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "HEIF"})
DRAFT_SHORTFALL = 0.1  # JPEG draft decoding may land this far under the target size
SOURCE_SIZE = "source_size"  # Image.info key: (width, height) before resizing

try:  # HEIC/HEIF photos (iPhone) when the maintained pillow-heif wheel is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int = 20 * 2**20  # one image or PDF, after base64 decoding
    max_decoded_pixels: int = 100_000_000  # read from the header, before decoding: decompression bombs
    max_pdf_pages: int = 16
    pdf_timeout: float = 60.0


Key = tuple[bytes, str]  # a file's content hash and the detail level it was sized for


class RecentImages:
    """Model-ready images of recently seen files, by content hash, so a conversation's image is decoded once:
    chat clients send the whole history, image included, on every turn. Bounded by the images' RGB bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Key, list[Image.Image]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # used from decoding threads

    @staticmethod
    def key(data: bytes, detail: Detail) -> Key:
        return hashlib.blake2b(data, digest_size=16).digest(), detail

    def get(self, key: Key) -> list[Image.Image] | None:
        with self._lock:
            images = self._entries.get(key)
            if images is not None:
                self._entries.move_to_end(key)
            return images

    def put(self, key: Key, images: list[Image.Image]) -> None:
        size = _footprint(images)
        with self._lock:
            if key in self._entries or size > self._max_bytes:
                return
            self._entries[key] = images
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= _footprint(evicted)


def _footprint(images: list[Image.Image]) -> int:
    # Pixels, with a floor per image for the objects around them (a 1×1 image is not free).
    return sum(max(image.width * image.height * len(image.getbands()), 64 * 1024) for image in images)


RECENT_IMAGES_BYTES = 256 * 2**20


class MediaLoader:
    """Turns one ``image_url``/``file`` reference into model-ready images (a PDF gives one per page).

    The images are shared with other requests for the same file (see ``RecentImages``): read them, never
    change them."""

    def __init__(self, budget: ImageBudget, limits: MediaLimits, fetcher: MediaFetcher) -> None:
        self.budget = budget
        self.limits = limits
        self._fetcher = fetcher
        self._recent = RecentImages(RECENT_IMAGES_BYTES)

    async def load(self, url: str, *, detail: Detail = "auto", param: str) -> list[Image.Image]:
        if url.startswith("data:"):
            # Megabytes of base64, a hash and a decode: one worker thread does them all (a hop costs the loop).
            def read() -> tuple[bytes, Key, list[Image.Image] | None]:
                mime, data = parse_data_url(url, max_bytes=self.limits.max_bytes, param=param)
                return (data, *self._known_or_decoded(mime, data, detail, param))

            data, key, images = await asyncio.to_thread(read)
        elif url.startswith(("http://", "https://")):
            mime, data = await self._fetcher.fetch(url, param=param)
            key, images = await asyncio.to_thread(self._known_or_decoded, mime, data, detail, param)
        else:
            raise InvalidRequest("The URL must be a data: URL or an http(s) URL.", param=param)
        return images if images is not None else await self._pdf_pages(data, key, detail, param)

    async def decode(self, mime: str, data: bytes, *, detail: Detail = "auto", param: str) -> list[Image.Image]:
        """Bytes declared as ``mime`` → model-ready images (one per PDF page); the content must match ``mime``."""
        key, images = await asyncio.to_thread(self._known_or_decoded, mime, data, detail, param)
        return images if images is not None else await self._pdf_pages(data, key, detail, param)

    def _known_or_decoded(
        self, mime: str, data: bytes, detail: Detail, param: str
    ) -> tuple[Key, list[Image.Image] | None]:
        """On a worker thread: the file's key, and its images if it was seen lately or is an image (decoded
        here); ``None`` for a PDF not seen lately, which is rendered by ``_pdf_pages``."""
        if len(data) > self.limits.max_bytes:
            raise PayloadTooLarge(f"The file holds more than {self.limits.max_bytes} bytes.", param=param)
        if not data:
            raise InvalidRequest("The file is empty.", param=param)
        pdf = is_pdf(data)
        _check_declared(mime, "application/pdf" if pdf else "image/", param)
        key = RecentImages.key(data, detail)
        if (recent := self._recent.get(key)) is not None:
            return key, list(recent)
        if pdf:
            return key, None
        return key, self._remember(key, [decode_image(data, self.budget, self.limits, detail, param)])

    async def _pdf_pages(self, data: bytes, key: Key, detail: Detail, param: str) -> list[Image.Image]:
        pages = await render_pdf(
            data,
            max_pages=self.limits.max_pdf_pages,
            max_pixels=self.budget.max_pixels,
            timeout=self.limits.pdf_timeout,
            param=param,
        )
        fitted = await asyncio.to_thread(lambda: [self._fit(page, detail, param) for page in pages])
        return self._remember(key, fitted)

    def _remember(self, key: Key, images: list[Image.Image]) -> list[Image.Image]:
        _, detail = key
        for page, image in enumerate(images):
            image.info[CONTENT_ID] = f"{key[0].hex()}-{detail}-{page}"  # the engine need not hash these pixels
        self._recent.put(key, images)
        return list(images)

    def _fit(self, image: Image.Image, detail: Detail, param: str) -> Image.Image:
        dpi = image.info.get(RENDER_DPI)  # read first: an image that needs no resizing is returned as it is
        fitted = _with_source_size(
            _resize(image, _target(self.budget, image.width, image.height, detail, param)), image.size
        )
        if dpi is not None:
            fitted.info[RENDER_DPI] = dpi
        return fitted


def parse_data_url(url: str, *, max_bytes: int, param: str) -> tuple[str, bytes]:
    """(MIME type, bytes) of a base64 data URL; standard or URL-safe alphabet, padding optional."""
    header, comma, payload = url.partition(",")
    fields = header.removeprefix("data:").split(";")
    if not comma or "base64" not in (field.strip().lower() for field in fields[1:]):
        raise InvalidRequest("Malformed data URL: expected 'data:<mime>;base64,<data>'.", param=param)
    payload = "".join(payload.split())  # line breaks from some encoders
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLarge(f"The data URL holds more than {max_bytes} bytes.", param=param)
    try:
        normalized = payload.replace("-", "+").replace("_", "/")
        data = base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The data URL's payload is not valid base64.", param=param) from None
    if not data:
        raise InvalidRequest("The data URL is empty.", param=param)
    return fields[0].strip().lower(), data


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def _check_declared(mime: str, kind: str, param: str) -> None:
    """The declared type must agree with the content: an image MIME on a PDF (or the reverse) is refused."""
    if mime in ("", "application/octet-stream", "binary/octet-stream") or mime.startswith(kind):
        return
    if mime.startswith("image/") or mime == "application/pdf":
        raise InvalidRequest(f"The content does not match its declared type {mime}.", param=param)
    raise UnsupportedMediaType(f"Unsupported media type {mime}; send an image or a PDF.", param=param)


def decode_image(data: bytes, budget: ImageBudget, limits: MediaLimits, detail: Detail, param: str) -> Image.Image:
    """Bytes → RGB at the model's target size; every Pillow failure becomes a 4xx naming ``param``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap below is the limit
            image = Image.open(io.BytesIO(data))
            if image.format not in SUPPORTED_FORMATS:
                raise UnsupportedMediaType(
                    f"Unsupported image format {image.format}; send PNG, JPEG, WebP, GIF, BMP, TIFF or HEIC.",
                    param=param,
                )
            if image.width * image.height > limits.max_decoded_pixels:
                raise PayloadTooLarge(f"The image has {image.width}x{image.height} pixels, too many.", param=param)
            turned = _turned_sideways(image)
            source_size = shown_size(image)
            target = _target(budget, *source_size, detail, param)
            resample = Image.Resampling.BICUBIC
            if image.format == "JPEG" and image.draft("RGB", _draft_size(target[::-1] if turned else target)):
                # The DCT did the heavy downsampling; the rest is under 2x, where Pillow's
                # antialiased bilinear matches bicubic for text and costs a third less.
                resample = Image.Resampling.BILINEAR
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # not a copy: without a rotation it copied every pixel
            ready = _resize(to_rgb(image), target, resample)
            if ready is image:  # still the opened file, with its chunks, profiles and buffers: keep the pixels only
                ready = image.copy()
            return _with_source_size(ready, source_size)
    except Image.DecompressionBombError:
        raise PayloadTooLarge("The image has too many pixels.", param=param) from None
    except GatewayError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Exception):
        # Decoding depends only on the bytes sent: whatever Pillow raises, the input was bad.
        raise InvalidRequest("The image data could not be decoded.", param=param) from None


def _target(budget: ImageBudget, width: int, height: int, detail: Detail, param: str) -> tuple[int, int]:
    try:
        return budget.target_size(width, height, detail)
    except (ValueError, ZeroDivisionError):
        raise InvalidRequest(
            f"The image is {width}x{height}; its aspect ratio must be below {MAX_ASPECT_RATIO}:1.", param=param
        ) from None


_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90°


def shown_size(image: Image.Image) -> tuple[int, int]:
    """An opened (not yet decoded) image's width and height as it is shown: EXIF rotations by 90° swap them."""
    return (image.height, image.width) if _turned_sideways(image) else image.size


def _turned_sideways(image: Image.Image) -> bool:
    """Whether EXIF says the stored pixels are shown rotated by 90° (width and height swap)."""
    return image.getexif().get(0x0112) in _SWAPS_SIDES


def source_size(image: Image.Image) -> tuple[int, int]:
    """The size of the image the user sent (or of the rendered PDF page), before it was sized for the model."""
    width, height = image.info.get(SOURCE_SIZE, image.size)
    return int(width), int(height)


def _with_source_size(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Remember the size the user sent: boxes the model finds are reported in its pixels. Nothing else of the
    file's metadata stays (PNG text chunks, ICC profiles and EXIF can be megabytes the model never reads)."""
    image.info = {SOURCE_SIZE: size}
    return image


def _draft_size(target: tuple[int, int]) -> tuple[int, int]:
    """What to ask JPEG draft mode for: a little under the target.

    libjpeg only scales by 1/2, 1/4, 1/8 while decoding. A 4000×3000 photo for a 2048-px target would
    miss the 1/2 step by 2% and decode at full size; allowing a 10% shortfall (made up by the final
    resize) decodes it at 2000×1500, about 3× faster, with no visible loss for OCR.
    """
    return math.floor(target[0] * (1 - DRAFT_SHORTFALL)), math.floor(target[1] * (1 - DRAFT_SHORTFALL))


def _resize(
    image: Image.Image, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BICUBIC
) -> Image.Image:
    # BICUBIC by default, as HunyuanOCR's processor resizes; at the exact target size the engine's
    # processor finds nothing left to do.
    return image if image.size == size else image.resize(size, resample)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB: alpha composited onto white, 16-bit scaled down, CMYK/palette converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        high = np.asarray(image, dtype=np.uint32) >> (8 if image.mode.startswith("I;16") or _is_16bit(image) else 0)
        return Image.fromarray(np.clip(high, 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _is_16bit(image: Image.Image) -> bool:
    # Mode "I" from 16-bit PNGs holds values up to 65535.
    extrema = image.getextrema()
    return isinstance(extrema, tuple) and float(extrema[1]) > 255  # type: ignore[arg-type]
