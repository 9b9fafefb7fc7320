"""Media → model-ready images: formats, modes, EXIF, sizes, PDFs, and what bad input gets."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from adapters.images import CONTENT_ID, ImageBudget
from gateway.errors import ClientError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gateway.media.fetch import FetchPolicy, MediaFetcher
from gateway.media.loader import SOURCE_SIZE, MediaLimits, MediaLoader, RecentImages, decode_image, parse_data_url
from gateway.media.pdf import RENDER_DPI
from tests.images import data_url, encode, make_image

PARAM = "messages[0].content[0].image_url.url"
BUDGET = ImageBudget(min_pixels=32 * 32, max_pixels=256 * 256, factor=32)
LIMITS = MediaLimits(max_bytes=2**20, max_decoded_pixels=50_000_000, max_pdf_pages=3, pdf_timeout=30)


def load(url: str, detail: str = "auto", budget: ImageBudget = BUDGET) -> list[Image.Image]:
    async def run() -> list[Image.Image]:
        fetcher = MediaFetcher(FetchPolicy(remote_media=False))
        try:
            return await MediaLoader(budget, LIMITS, fetcher).load(url, detail=detail, param=PARAM)  # type: ignore[arg-type]
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def load_one(url: str, **kwargs: object) -> Image.Image:
    [image] = load(url, **kwargs)  # type: ignore[arg-type]
    return image


FORMATS = [
    ("PNG", "image/png"),
    ("JPEG", "image/jpeg"),
    ("WEBP", "image/webp"),
    ("GIF", "image/gif"),
    ("BMP", "image/bmp"),
    ("TIFF", "image/tiff"),
    ("HEIF", "image/heic"),
]


@pytest.mark.parametrize("image_format,mime", FORMATS)
def test_supported_formats_decode_to_rgb_at_the_model_size(image_format: str, mime: str) -> None:
    image = load_one(data_url(encode(make_image(64, 96, seed=1), image_format), mime))
    assert image.mode == "RGB" and image.size == (64, 96)


def test_large_photo_is_brought_within_the_budget() -> None:
    image = load_one(data_url(encode(make_image(1200, 900, seed=2), "JPEG"), "image/jpeg"))
    assert image.width * image.height <= BUDGET.max_pixels and image.width % 32 == image.height % 32 == 0


def test_low_detail_uses_a_smaller_budget() -> None:
    budget = ImageBudget(min_pixels=32 * 32, max_pixels=2048 * 2048, factor=32)
    url = data_url(encode(make_image(1600, 1200, seed=3), "JPEG"), "image/jpeg")
    assert (
        load_one(url, detail="low", budget=budget).width * load_one(url, detail="low", budget=budget).height
        <= 512 * 512
    )
    assert load_one(url, budget=budget).size == (1600, 1216)


def test_longest_side_is_capped_at_2048() -> None:
    budget = ImageBudget(min_pixels=32 * 32, max_pixels=2048 * 2048, factor=32)
    image = load_one(data_url(encode(make_image(3000, 100, seed=4))), budget=budget)
    assert max(image.size) <= 2048


def test_tiny_images_are_upscaled_to_the_model_minimum() -> None:
    image = load_one(data_url(encode(Image.new("RGB", (1, 1), (9, 9, 9)))))
    assert image.size == (32, 32)


def test_exif_orientation_is_applied() -> None:
    photo = Image.new("RGB", (64, 32), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90°
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif.tobytes())
    assert load_one(data_url(buffer.getvalue(), "image/jpeg")).size == (32, 64)


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert load_one(data_url(encode(image))).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    "mode,image_format",
    [("L", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("I;16", "PNG"), ("1", "BMP"), ("LA", "PNG"), ("RGBA", "WEBP")],
)
def test_other_modes_are_converted_to_rgb(mode: str, image_format: str) -> None:
    assert load_one(data_url(encode(make_image(32, 32, seed=5).convert(mode), image_format))).mode == "RGB"


def test_sixteen_bit_images_keep_their_brightness() -> None:
    image = Image.new("I;16", (32, 32), 65535)
    assert load_one(data_url(encode(image))).getpixel((0, 0)) == (255, 255, 255)


def test_gif_and_tiff_give_their_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255))]
    for image_format in ("GIF", "TIFF"):
        buffer = io.BytesIO()
        frames[0].save(buffer, image_format, save_all=True, append_images=frames[1:])
        red, green, blue = load_one(data_url(buffer.getvalue())).getpixel((5, 5))  # type: ignore[misc]
        assert red > 200 and blue < 50


def test_url_safe_base64_without_padding_is_accepted() -> None:
    payload = base64.urlsafe_b64encode(encode(make_image(40, 40, seed=6))).decode().rstrip("=")
    assert load_one(f"data:image/png;base64,{payload}").size == (32, 32)


def test_a_multi_page_pdf_gives_one_image_per_page() -> None:
    pages = [Image.new("RGB", (200, 280), color) for color in ((255, 255, 255), (0, 0, 0), (128, 128, 128))]
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:])
    images = load(data_url(buffer.getvalue(), "application/pdf"))
    assert len(images) == 3
    assert all(image.mode == "RGB" and image.width * image.height <= BUDGET.max_pixels for image in images)
    assert images[0].getpixel((10, 10)) != images[1].getpixel((10, 10))


@pytest.mark.parametrize(("scan_dpi", "rendered"), [(100, (850, 1100)), (150, (1275, 1651)), (300, (1700, 2200))])
def test_a_scanned_page_renders_at_its_own_resolution_up_to_200_dpi(scan_dpi: int, rendered: tuple[int, int]) -> None:
    """Upscaling a 100-dpi scan to 200 dpi adds no detail, and the engine read it worse."""
    scan = Image.new("RGB", (round(8.5 * scan_dpi), 11 * scan_dpi), "white")
    buffer = io.BytesIO()
    scan.save(buffer, "PDF", resolution=scan_dpi)
    big = ImageBudget(min_pixels=1, max_pixels=4000 * 4000, factor=1)
    (page,) = load(data_url(buffer.getvalue(), "application/pdf"), budget=big)
    assert page.info[SOURCE_SIZE] == rendered
    assert page.info[RENDER_DPI] == min(scan_dpi, 200)


def test_a_page_with_a_small_picture_renders_at_200_dpi() -> None:
    """Only an image covering the page makes it a scan: text and drawings around a small one need 200 dpi."""
    import pypdfium2

    document = pypdfium2.PdfDocument.new()
    page = document.new_page(612, 792)  # Letter, in points
    picture = pypdfium2.PdfImage.new(document)
    picture.set_bitmap(pypdfium2.PdfBitmap.from_pil(Image.new("RGB", (50, 50), "gray")))
    picture.set_matrix(pypdfium2.PdfMatrix().scale(144, 144).translate(72, 72))  # 2 × 2 in: a 25-dpi picture
    page.insert_obj(picture)
    page.gen_content()
    saved = io.BytesIO()
    document.save(saved)
    big = ImageBudget(min_pixels=1, max_pixels=4000 * 4000, factor=1)
    (rendered,) = load(data_url(saved.getvalue(), "application/pdf"), budget=big)
    assert rendered.info[SOURCE_SIZE] == (1700, 2200)
    assert rendered.info[RENDER_DPI] == 200
    assert rendered.getpixel((400, 1800)) != (255, 255, 255)  # the picture is there, 1 in from the bottom left


def test_a_pdf_with_too_many_pages_is_refused_with_the_count() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50)).save(buffer, "PDF", save_all=True, append_images=[Image.new("RGB", (50, 50))] * 4)
    with pytest.raises(InvalidRequest, match="5 pages; at most 3"):
        load(data_url(buffer.getvalue(), "application/pdf"))


def test_a_broken_pdf_is_400() -> None:
    with pytest.raises(InvalidRequest, match="PDF"):
        load(data_url(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer\n%%EOF", "application/pdf"))


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png,rawbytes",
        "data:image/png;base64,%%%",
        "data:;base64",
        "data:image/png;base64,",
        "ftp://example.invalid/a.png",
        "file:///etc/passwd",
    ],
)
def test_malformed_urls_are_400_naming_the_param(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        load(url)
    assert caught.value.param == PARAM and caught.value.status_code == 400


def test_remote_urls_are_refused_when_remote_media_is_off() -> None:
    with pytest.raises(InvalidRequest, match="does not fetch"):
        load("https://example.invalid/image.png")


@pytest.mark.parametrize(
    "data",
    [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"\xff" * 20, b"\xff\xd8\xff" + b"\x00" * 9],
)
def test_bytes_that_are_not_a_decodable_image_are_400(data: bytes) -> None:
    with pytest.raises(InvalidRequest):
        load(data_url(data))


def test_truncated_image_is_400() -> None:
    data = encode(make_image(256, 256, seed=7), "PNG")
    with pytest.raises(InvalidRequest):
        load(data_url(data[: len(data) // 2]))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")  # 400 MP of zeros in a few KB
    with pytest.raises(PayloadTooLarge):
        load(data_url(bomb))


def test_data_url_over_the_size_limit_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        load("data:image/png;base64," + "A" * (2 * 2**20))


def test_extreme_aspect_ratio_is_400() -> None:
    with pytest.raises(InvalidRequest, match="aspect ratio"):
        load(data_url(encode(Image.new("RGB", (4000, 2)))))


def test_image_format_outside_the_list_is_415_naming_it() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        load(data_url(encode(make_image(16, 16, seed=8), "ICO"), "image/x-icon"))
    assert "ICO" in caught.value.message


@pytest.mark.parametrize(
    "mime,data",
    [("application/pdf", encode(make_image(16, 16, seed=9))), ("image/png", b"%PDF-1.4 ..."), ("text/plain", b"hi")],
)
def test_a_declared_type_that_lies_about_the_content_is_refused(mime: str, data: bytes) -> None:
    with pytest.raises(ClientError):
        load(data_url(data, mime))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_data_url_parser_accepts_or_refuses_cleanly_for_any_text(text: str) -> None:
    try:
        mime, data = parse_data_url("data:" + text, max_bytes=1000, param=PARAM)
    except ClientError:
        return
    assert isinstance(mime, str) and isinstance(data, bytes) and data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_decoder_accepts_or_refuses_cleanly_for_any_bytes(data: bytes) -> None:
    try:
        image = decode_image(data, BUDGET, LIMITS, "auto", PARAM)
    except ClientError:
        return
    assert image.mode == "RGB"


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0, max_value=2000))
def test_decoder_survives_corrupted_real_images(noise: bytes, position: int) -> None:
    original = encode(make_image(48, 40, seed=10), "PNG")
    position %= len(original)
    corrupted = original[:position] + noise + original[position + len(noise) :]
    try:
        assert decode_image(corrupted, BUDGET, LIMITS, "auto", PARAM).mode == "RGB"
    except ClientError:
        pass


def test_a_file_seen_again_is_not_decoded_again_and_its_checks_still_apply() -> None:
    async def run() -> None:
        fetcher = MediaFetcher(FetchPolicy(remote_media=False))
        loader = MediaLoader(BUDGET, LIMITS, fetcher)
        png = encode(make_image(600, 400, seed=3))
        try:
            [first] = await loader.decode("image/png", png, param=PARAM)
            [again] = await loader.decode("image/png", png, param=PARAM)
            [low] = await loader.decode("image/png", png, detail="low", param=PARAM)
            with pytest.raises(InvalidRequest, match="declared type"):
                await loader.decode("application/pdf", png, param=PARAM)
        finally:
            await fetcher.aclose()
        assert again is first  # the turn-after-turn case: the same bytes, decoded once
        assert low is not first

    asyncio.run(run())


@pytest.mark.parametrize("side", [40, 128], ids=["resized", "already at its target size"])
def test_model_ready_images_keep_no_file_metadata(side: int) -> None:
    from PIL import PngImagePlugin

    assert (BUDGET.target_size(side, side, "auto") == (side, side)) == (side == 128)
    text = PngImagePlugin.PngInfo()
    for index in range(4):
        text.add_text(f"comment{index}", "x" * 100_000, zip=True)  # megabytes of metadata in a few KB
    buffer = io.BytesIO()
    make_image(side, side, seed=4).save(buffer, "PNG", pnginfo=text)
    image = load_one(data_url(buffer.getvalue()))
    assert set(image.info) == {SOURCE_SIZE, CONTENT_ID}  # ours only
    # Not the opened file either: the cache would keep its parsed text chunks and buffers beside the pixels.
    assert type(image) is Image.Image and not getattr(image, "text", None)


def test_recent_images_stay_within_their_byte_budget() -> None:
    recent = RecentImages(max_bytes=3 * 200 * 200 * 3)
    images = [[make_image(200, 200, seed=seed)] for seed in range(5)]
    for seed, image in enumerate(images):
        recent.put(RecentImages.key(bytes([seed]), "auto"), image)
    kept = [seed for seed in range(5) if recent.get(RecentImages.key(bytes([seed]), "auto")) is not None]
    assert kept == [2, 3, 4]  # the oldest went first
    recent.put(RecentImages.key(b"huge", "auto"), [make_image(400, 400, seed=9)])
    recent.put(RecentImages.key(b"tiny", "auto"), [make_image(1, 1, seed=9)] * 10)  # counted at 64 KiB each
    assert recent.get(RecentImages.key(b"tiny", "auto")) is None  # larger than the whole budget
    assert recent.get(RecentImages.key(b"huge", "auto")) is None


def test_each_image_carries_an_id_of_its_pixels_for_the_engine() -> None:
    png = encode(make_image(300, 200, seed=4))
    other = encode(make_image(300, 200, seed=5))
    pages = [Image.new("RGB", (200, 280), color) for color in ((255, 255, 255), (0, 0, 0))]
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:])
    first, again = load_one(data_url(png)), load_one(data_url(png))
    low = load_one(data_url(png), detail="low")
    ids = [image.info[CONTENT_ID] for image in (first, load_one(data_url(other)), low)]
    ids += [page.info[CONTENT_ID] for page in load(data_url(buffer.getvalue(), "application/pdf"))]
    assert again.info[CONTENT_ID] == first.info[CONTENT_ID]  # the same file, the same pixels: the same id
    assert len(set(ids)) == len(ids)  # other file, other detail, other page: another id
