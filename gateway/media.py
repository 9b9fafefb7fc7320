"""Images from OpenAI ``image_url`` parts: data URLs decoded with Pillow, off the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import warnings

from PIL import Image, UnidentifiedImageError

from gateway.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"})
MAX_IMAGE_PIXELS = 64_000_000  # checked from the header, before any pixel is decoded


async def load_image(url: str, *, param: str) -> Image.Image:
    """Decode the image an ``image_url.url`` names into an RGB image the engine can take."""
    if url.startswith("data:"):
        data = _data_url_bytes(url, param=param)
        return await asyncio.to_thread(decode_image, data, param)
    if url.startswith(("http://", "https://")):
        raise InvalidRequest("Image URLs over http(s) are not supported yet; send a data: URL.", param=param)
    raise InvalidRequest("image_url.url must be a data: URL or an http(s) URL.", param=param)


def _data_url_bytes(url: str, *, param: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma or ";base64" not in header:
        raise InvalidRequest("Malformed data URL: expected 'data:<mime>;base64,<data>'.", param=param)
    payload = payload.strip()
    try:
        # Clients send both alphabets and often drop the padding.
        payload = payload.replace("-", "+").replace("_", "/")
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The data URL's payload is not valid base64.", param=param) from None


def decode_image(data: bytes, param: str) -> Image.Image:
    """Bytes → RGB image; every Pillow failure becomes a 4xx naming ``param``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in SUPPORTED_FORMATS:
                raise UnsupportedMediaType(
                    f"Unsupported image format {image.format or 'unknown'}; "
                    f"send one of {', '.join(sorted(SUPPORTED_FORMATS))}.",
                    param=param,
                )
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise PayloadTooLarge(f"Image of {image.width}x{image.height} pixels is too large.", param=param)
            image.load()
            return _to_rgb(image)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidRequest("The image data could not be decoded.", param=param) from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, as on the page the image came from.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
