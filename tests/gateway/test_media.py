"""Decoding ``image_url`` data URLs into RGB images, and what bad input gets."""

from __future__ import annotations

import asyncio
import base64

import pytest
from PIL import Image

from gateway.errors import InvalidRequest, UnsupportedMediaType
from gateway.media import load_image
from tests.images import data_url, encode, make_image

PARAM = "messages[0].content[0].image_url.url"


def load(url: str) -> Image.Image:
    return asyncio.run(load_image(url, param=PARAM))


@pytest.mark.parametrize(
    "image_format,mime",
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_supported_formats_decode_to_rgb_of_the_same_size(image_format: str, mime: str) -> None:
    image = load(data_url(encode(make_image(40, 30, seed=1), image_format), mime))
    assert image.mode == "RGB" and image.size == (40, 30)


def test_url_safe_base64_without_padding_is_accepted() -> None:
    payload = base64.urlsafe_b64encode(encode(make_image(17, 13, seed=2))).decode().rstrip("=")
    assert load(f"data:image/png;base64,{payload}").size == (17, 13)


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert load(data_url(encode(image))).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16"])
def test_other_modes_are_converted_to_rgb(mode: str) -> None:
    image = make_image(8, 8, seed=3).convert(mode)
    image_format = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    assert load(data_url(encode(image, image_format))).mode == "RGB"


@pytest.mark.parametrize(
    "url",
    ["data:image/png,rawbytes", "data:image/png;base64,%%%", "data:;base64", "ftp://example.invalid/a.png"],
)
def test_malformed_urls_are_400_naming_the_param(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        load(url)
    assert caught.value.param == PARAM and caught.value.status_code == 400


def test_bytes_that_are_not_an_image_are_400() -> None:
    with pytest.raises(InvalidRequest):
        load(data_url(b"%PDF-1.4 not an image"))


def test_truncated_image_is_400() -> None:
    data = encode(make_image(64, 64, seed=4), "JPEG")
    with pytest.raises(InvalidRequest):
        load(data_url(data[: len(data) // 2], "image/jpeg"))


def test_image_format_outside_the_list_is_415_naming_it() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        load(data_url(encode(make_image(16, 16, seed=5), "ICO"), "image/x-icon"))
    assert "ICO" in caught.value.message
