"""Tests for core.imageio: every input is generated here in memory or under tmp_path."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from core import imageio
from core.errors import ImageDecodeError, ImageTooLargeError, PortraitStudioError, SettingsError
from core.imageio import (
    MAX_IMAGE_PIXELS,
    MIME_TYPES,
    UnsupportedFormatError,
    alpha_to_uint8,
    decode_image,
    encode_image,
    format_from_suffix,
    output_formats,
    read_rgb,
)
from tests.image_support import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    noise,
    png_header_only,
    save,
    srgb_icc,
    swapped_primaries_icc,
    viewer_shows,
)

# --- module setup -----------------------------------------------------------------------------------


def test_pillow_guard_set_to_our_limit():
    assert MAX_IMAGE_PIXELS == 100_000_000
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS
    assert str(MAX_IMAGE_PIXELS // 1_000_000) in imageio.__doc__


# --- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 3), (7, 5, 4)])
def test_png_round_trip_is_exact(shape):
    arr = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        arr[0, 0, 3] = 0  # fully transparent pixel keeps its stored colour
    out = decode_image(encode_image(arr, "png"))
    assert out.format == "PNG"
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (7, 5, 3) and out.rgb.flags.c_contiguous
    if arr.ndim == 2:
        np.testing.assert_array_equal(out.rgb, np.repeat(arr[:, :, None], 3, axis=2))
        assert out.alpha is None
    elif arr.shape[2] == 3:
        np.testing.assert_array_equal(out.rgb, arr)
        assert out.alpha is None
    else:
        np.testing.assert_array_equal(out.rgb, arr[:, :, :3])
        assert out.alpha.dtype == np.float32
        np.testing.assert_array_equal(alpha_to_uint8(out.alpha), arr[:, :, 3])


def test_accepts_bytes_path_and_file_objects(tmp_path):
    arr = noise(4, 6)
    data = encode_image(arr, "png")
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), str(path), path, io.BytesIO(data)):
        np.testing.assert_array_equal(read_rgb(source), arr)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(read_rgb(fh), arr)
    with pytest.raises(TypeError):
        decode_image(12345)


def test_opaque_rgba_has_no_alpha():
    arr = noise(5, 5, 4)
    arr[..., 3] = 255
    assert decode_image(encode_image(arr, "png")).alpha is None


def test_one_pixel_and_long_strip():
    one = decode_image(encode_image(np.array([[[10, 20, 30]]], np.uint8), "png"))
    assert one.rgb.shape == (1, 1, 3) and one.rgb[0, 0].tolist() == [10, 20, 30]
    strip = noise(10, 500, seed=3)  # 50:1, the widest accepted
    np.testing.assert_array_equal(read_rgb(encode_image(strip, "png")), strip)
    assert read_rgb(encode_image(strip, "webp")).shape == (10, 500, 3)
    for size in ((10, 501), (501, 10), (1, 20_000)):  # wider: refused from the header, before decoding
        with pytest.raises(ImageDecodeError, match=rf"{size[1]}x{size[0]} pixels, an aspect ratio of \d+:1; .* up to 50:1"):
            read_rgb(encode_image(noise(*size, seed=3), "png"))


# --- EXIF orientation -------------------------------------------------------------------------------

def quadrant_means(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[0] // 2, arr.shape[1] // 2
    m = 4  # skip JPEG ringing at the quadrant edges
    return np.array([arr[r * h + m:(r + 1) * h - m, c * w + m:(c + 1) * w - m].reshape(-1, 3).mean(0)
                     for r in (0, 1) for c in (0, 1)])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_viewer(orientation):
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high, four saturated quadrants
    stored[:10, :20], stored[:10, 20:], stored[10:, :20], stored[10:, 20:] = RED, GREEN, BLUE, YELLOW
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(Image.fromarray(stored), "JPEG", quality=100, subsampling=0, exif=exif.tobytes())
    out = decode_image(data)
    expected = viewer_shows(stored, orientation)
    assert out.rgb.shape == expected.shape
    np.testing.assert_allclose(quadrant_means(out.rgb), quadrant_means(expected), atol=12)
    assert any("EXIF orientation" in n for n in out.notes) == (orientation != 1)


# --- modes --------------------------------------------------------------------------------------------


def test_palette_with_transparency_gives_alpha():
    img = Image.new("P", (4, 2))
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putdata([0, 1, 1, 0, 1, 1, 1, 0])
    out = decode_image(save(img, "PNG", transparency=0))
    expected_alpha = np.array([[0, 1, 1, 0], [1, 1, 1, 0]], np.float32)
    np.testing.assert_array_equal(out.alpha, expected_alpha)
    assert out.rgb[0, 1].tolist() == [200, 100, 50] and out.rgb[0, 0].tolist() == [10, 20, 30]


def test_palette_without_transparency_has_no_alpha():
    img = Image.new("P", (3, 3), 1)
    img.putpalette([0, 0, 0, 40, 80, 120] + [0] * 762)
    out = decode_image(save(img, "PNG"))
    assert out.alpha is None and out.rgb[1, 1].tolist() == [40, 80, 120]


def test_la_gives_grey_rgb_and_alpha():
    grey = np.array([[0, 100], [200, 255]], np.uint8)
    a = np.array([[255, 128], [0, 64]], np.uint8)
    img = Image.merge("LA", [Image.fromarray(grey), Image.fromarray(a)])
    out = decode_image(save(img, "PNG"))
    np.testing.assert_array_equal(out.rgb, np.repeat(grey[:, :, None], 3, axis=2))
    np.testing.assert_allclose(out.alpha, a / 255.0, atol=1e-7)


def test_one_bit_image():
    img = Image.new("1", (3, 2), 0)
    img.putpixel((1, 0), 1)
    out = decode_image(save(img, "PNG"))
    assert out.rgb[0, 1].tolist() == [255, 255, 255] and out.rgb[0, 0].tolist() == [0, 0, 0]


def test_cmyk_jpeg_gives_sane_rgb():
    data = save(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=100)
    out = decode_image(data)
    np.testing.assert_allclose(out.rgb.reshape(-1, 3).mean(0), [0, 255, 255], atol=4)


def test_16_bit_png_is_scaled_by_257():
    arr = np.array([[65535, 257 * 100], [0, 257 * 3 + 128]], np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = decode_image(save(img, "PNG"))
    np.testing.assert_array_equal(out.rgb[..., 0], [[255, 100], [0, 3]])
    np.testing.assert_array_equal(out.rgb[..., 0], out.rgb[..., 2])
    assert "16-bit image reduced to 8 bits" in out.notes


@pytest.mark.parametrize("values, expected", [([0.0, 0.5, 1.0, -0.2], [0, 128, 255, 0]),
                                              ([0.0, 257.0 * 7, 65535.0, -5.0], [0, 7, 255, 0])])
def test_float_tiff(values, expected):
    img = Image.fromarray(np.array([values], np.float32))
    assert img.mode == "F"
    out = decode_image(save(img, "TIFF"))
    np.testing.assert_array_equal(out.rgb[0, :, 1], expected)
    assert any("floating-point" in n for n in out.notes)


# --- animation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_uses_first_frame(fmt):
    frames = [Image.new("RGB", (8, 6), c) for c in (RED, GREEN, BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    out = decode_image(data)
    assert out.format == fmt and out.rgb.shape == (6, 8, 3)
    np.testing.assert_array_equal(out.rgb.reshape(-1, 3), np.tile(RED, (48, 1)))
    assert f"animated {fmt}: used the first of 3 frames" in out.notes


def test_multi_picture_jpeg_is_reported_as_jpeg():
    images = [Image.new("RGB", (16, 16), c) for c in (GREEN, RED)]
    data = save(images[0], "MPO", save_all=True, append_images=images[1:], quality=100)
    out = decode_image(data)
    assert out.format == "JPEG"
    np.testing.assert_allclose(out.rgb[8, 8], GREEN, atol=4)
    assert "multi-picture JPEG (MPO): used the first of 2 images" in out.notes


def test_truncated_animation_is_a_decode_error():
    frames = [Image.fromarray(noise(32, 32, seed=s)) for s in range(4)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        decode_image(data[: len(data) * 3 // 10])  # cut inside the first frame


def test_multi_page_tiff_uses_first_page():
    pages = [Image.new("RGB", (5, 5), c) for c in (BLUE, RED)]
    out = decode_image(save(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert out.rgb[2, 2].tolist() == list(BLUE)
    assert "multi-page TIFF: used the first of 2 pages" in out.notes


# --- ICC profiles -----------------------------------------------------------------------------------


def test_non_srgb_profile_is_converted():
    arr = np.zeros((4, 4, 3), np.uint8)
    arr[:2], arr[2:] = RED, BLUE
    out = decode_image(save(Image.fromarray(arr), "PNG", icc_profile=swapped_primaries_icc()))
    # stored "red" in the swapped space is sRGB's green primary
    np.testing.assert_allclose(out.rgb[0, 0], GREEN, atol=3)
    np.testing.assert_allclose(out.rgb[3, 3], BLUE, atol=3)
    icc_notes = [n for n in out.notes if "ICC" in n]
    assert len(icc_notes) == 1 and icc_notes[0].startswith("converted embedded ICC profile 'Swap")
    assert icc_notes[0].endswith("to sRGB")


def test_srgb_profile_round_trips_unchanged():
    arr = noise(6, 6, seed=4)
    out = decode_image(save(Image.fromarray(arr), "PNG", icc_profile=srgb_icc()))
    np.testing.assert_array_equal(out.rgb, arr)
    assert not any("ICC" in n for n in out.notes)


def test_broken_profile_is_ignored_with_note():
    arr = noise(6, 6, seed=5)
    out = decode_image(save(Image.fromarray(arr), "PNG", icc_profile=b"definitely not an ICC profile"))
    np.testing.assert_array_equal(out.rgb, arr)
    assert any("broken embedded ICC" in n for n in out.notes)


def test_profile_for_wrong_colour_space_is_ignored():
    arr = noise(3, 3, seed=6)
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    out = decode_image(save(Image.fromarray(arr), "PNG", icc_profile=lab))
    np.testing.assert_array_equal(out.rgb, arr)
    assert any(n.startswith("ignored embedded ICC profile") for n in out.notes)


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda p: b"", lambda p: io.BytesIO(), lambda p: (p.write_bytes(b""), p)[1]],
    ids=["bytes", "file-object", "path"],
)
def test_empty_input(tmp_path, make):
    with pytest.raises(ImageDecodeError, match="is empty"):
        decode_image(make(tmp_path / "empty.png"))


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageDecodeError, match="nope.png") as info:
        decode_image(missing)
    assert "does not exist" in str(info.value)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_bytes(b"hello, this is not a photo\n" * 10)
    with pytest.raises(ImageDecodeError, match="is not an image Portrait Studio can read") as info:
        decode_image(path)
    assert "notes.jpg" in str(info.value) and "JPEG, PNG, WebP, BMP, TIFF" in str(info.value)
    assert "HEIC" in str(info.value)
    assert isinstance(info.value, PortraitStudioError) and isinstance(info.value, ValueError)


def test_format_outside_the_supported_list_is_refused():
    with pytest.raises(ImageDecodeError, match="not an image Portrait Studio can read"):
        decode_image(save(Image.new("RGB", (4, 4)), "PPM"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(fmt):
    data = save(Image.fromarray(noise(64, 64, seed=7)), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    with pytest.raises(ImageDecodeError, match="truncated or corrupt") as info:
        decode_image(data[: len(data) // 2])
    assert "Re-export" in str(info.value)


def test_huge_png_header_is_refused():
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(png_header_only(50_000, 50_000))
    message = str(info.value)
    assert "2500 MP" in message and "100 MP" in message and "Downscale" in message


def test_header_between_pillow_warning_and_error_is_refused():
    with pytest.raises(ImageTooLargeError, match="150 MP"):
        decode_image(png_header_only(15_000, 10_000))


def test_max_pixels_argument():
    data = encode_image(noise(100, 200, seed=8), "png")
    with pytest.raises(ImageTooLargeError, match=r"200x100 pixels, 0\.02 MP.*limit of 0\.01 MP") as info:
        decode_image(data, max_pixels=10_000)
    assert "141x70" in str(info.value)  # the suggested size fits the limit
    assert decode_image(data, max_pixels=20_000).rgb.shape == (100, 200, 3)


# --- encoding -----------------------------------------------------------------------------------------


def test_jpeg_and_webp_encode_and_quality():
    arr = noise(32, 32, seed=9)
    for fmt, name in (("jpg", "JPEG"), ("JPEG", "JPEG"), ("webp", "WEBP")):
        data = encode_image(arr, fmt)
        assert Image.open(io.BytesIO(data)).format == name
        assert len(encode_image(arr, fmt, quality=10)) < len(data)
    assert encode_image(arr, "png", quality=5) == encode_image(arr, "png")  # ignored for PNG
    for bad in (0, 101, 9.5, True):
        with pytest.raises(SettingsError):
            encode_image(arr, "jpeg", quality=bad)


def test_webp_keeps_alpha():
    arr = noise(16, 16, 4, seed=10)
    out = decode_image(encode_image(arr, "webp"))
    assert out.format == "WEBP" and out.alpha is not None
    np.testing.assert_allclose(alpha_to_uint8(out.alpha), arr[..., 3], atol=1)


def test_jpeg_of_rgba_is_refused():
    with pytest.raises(UnsupportedFormatError, match="PNG or WebP"):
        encode_image(noise(4, 4, 4), "jpeg")


@pytest.mark.parametrize("fmt", ["gif", "tiff", "", "bmp", "heic"])
def test_unknown_output_format_is_refused(fmt):
    choices = "PNG, JPEG, WebP or AVIF" if imageio.AVIF_SUPPORTED else "PNG, JPEG or WebP"
    with pytest.raises(UnsupportedFormatError, match=choices):
        encode_image(noise(4, 4), fmt)


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="uint8.*alpha_to_uint8"):
        encode_image(np.zeros((4, 4), np.float32), "png")
    with pytest.raises(ValueError, match="shape"):
        encode_image(np.zeros((4, 4, 2), np.uint8), "png")
    with pytest.raises(UnsupportedFormatError, match="16383"):
        encode_image(np.zeros((2, 20_000, 3), np.uint8), "webp")


def test_alpha_to_uint8_rounds_and_clips():
    out = alpha_to_uint8(np.array([0, 0.5, 1, 1.2, -0.1], np.float32))
    assert out.dtype == np.uint8 and out.tolist() == [0, 128, 255, 255, 0]
    with pytest.raises(ValueError):
        alpha_to_uint8(np.array([0, 255], np.uint8))


def test_format_from_suffix_and_mime_types():
    names = ("a.png", "b.JPG", "c.jpeg", "d.webp")
    assert [format_from_suffix(p) for p in names] == ["png", "jpeg", "jpeg", "webp"]
    suffixes = r"\.png, \.jpg, \.jpeg, \.webp or \.avif" if imageio.AVIF_SUPPORTED else r"\.png, \.jpg, \.jpeg or \.webp"
    with pytest.raises(UnsupportedFormatError, match=suffixes):
        format_from_suffix("e.gif")
    assert set(MIME_TYPES) == set(output_formats()) and MIME_TYPES["jpeg"] == "image/jpeg"


def test_output_formats_lists_the_writable_keys_in_order():
    assert output_formats() == (("png", "jpeg", "webp", "avif") if imageio.AVIF_SUPPORTED else ("png", "jpeg", "webp"))
    for key in output_formats():
        assert Image.open(io.BytesIO(encode_image(noise(8, 8), key))).format == key.upper()


# --- HEIC / HEIF ----------------------------------------------------------------------------------------

# The start of an iPhone .heic: an ISO BMFF 'ftyp' box, major brand heic, compatible mif1 and heic.
HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"


def heic_with_orientation(stored: np.ndarray, orientation: int) -> bytes:
    """A HEIC (via pillow-heif) of `stored` carrying EXIF orientation `orientation`."""
    pytest.importorskip("pillow_heif")
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(Image.fromarray(stored), "HEIF", quality=-1, exif=exif.tobytes())


def test_heic_is_a_readable_suffix_and_format():
    assert {".heic", ".heif"} <= set(imageio.IMAGE_SUFFIXES)
    assert imageio.HEIF_SUPPORTED == ("HEIF" in imageio.SUPPORTED_INPUT_FORMATS)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_exif_orientation_matches_viewer_once(orientation):
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high, four saturated quadrants
    stored[:10, :20], stored[:10, 20:], stored[10:, :20], stored[10:, 20:] = RED, GREEN, BLUE, YELLOW
    data = heic_with_orientation(stored, orientation)
    assert (Image.open(io.BytesIO(data)).info["original_orientation"] or 1) == orientation  # the file carries it
    out = decode_image(data, name="IMG_0001.HEIC")
    expected = viewer_shows(stored, orientation)
    assert out.format == "HEIF" and out.rgb.shape == expected.shape  # 6 and 8: 20 wide, 40 high
    np.testing.assert_allclose(quadrant_means(out.rgb), quadrant_means(expected), atol=12)  # lossy YCbCr
    assert any("EXIF orientation" in n for n in out.notes) == (orientation != 1)


def test_heic_orientation_6_puts_the_top_left_corner_top_right():
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :20] = RED  # stored top-left; a viewer turns the photo 90 degrees clockwise
    out = decode_image(heic_with_orientation(stored, 6))
    assert out.rgb.shape == (40, 20, 3)
    np.testing.assert_allclose(out.rgb[2, 17], RED, atol=12)  # top-right corner
    np.testing.assert_allclose(out.rgb[2, 2], (0, 0, 0), atol=12)
    np.testing.assert_allclose(out.rgb[37, 17], (0, 0, 0), atol=12)


def test_heic_without_pillow_heif_says_how_to_enable_it(monkeypatch):
    monkeypatch.setattr(imageio, "HEIF_SUPPORTED", False)
    monkeypatch.setattr(imageio, "SUPPORTED_INPUT_FORMATS", tuple(f for f in imageio.SUPPORTED_INPUT_FORMATS if f != "HEIF"))
    with pytest.raises(ImageDecodeError, match=r"'IMG_0001\.HEIC' is a HEIC/HEIF photo.*`pip install pillow-heif`"):
        decode_image(HEIC_HEADER + b"\0" * 64, name="IMG_0001.HEIC")
    avif_header = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"  # generic brand, but an AVIF
    with pytest.raises(ImageDecodeError, match="not an image Portrait Studio can read") as info:
        decode_image(avif_header + b"\0" * 64)
    assert "pillow-heif" not in str(info.value).replace("(after pip install pillow-heif)", "")
    np.testing.assert_array_equal(read_rgb(encode_image(noise(4, 4), "png")), noise(4, 4))


def test_import_without_pillow_heif_still_decodes_other_formats():
    script = (
        "import sys; sys.modules['pillow_heif'] = None\n"  # makes `import pillow_heif` raise ImportError
        "import numpy as np\n"
        "from core import imageio\n"
        "assert not imageio.HEIF_SUPPORTED and 'HEIF' not in imageio.SUPPORTED_INPUT_FORMATS\n"
        "assert imageio.decode_image(imageio.encode_image(np.zeros((4, 4, 3), np.uint8), 'png')).format == 'PNG'\n"
        f"try:\n    imageio.decode_image({HEIC_HEADER + bytes(64)!r})\n"
        "except imageio.ImageDecodeError as exc:\n    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "is a HEIC/HEIF photo" in done.stdout and "pip install pillow-heif" in done.stdout


# --- DPI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_dpi_is_read(fmt):
    img = Image.fromarray(noise(6, 8))
    out = decode_image(save(img, fmt, dpi=(300, 300)))
    assert out.dpi is not None and all(isinstance(v, float) for v in out.dpi)
    np.testing.assert_allclose(out.dpi, (300, 300), atol=0.01)  # PNG: 11811 pixels per metre
    assert decode_image(save(img, fmt)).dpi is None


def test_nonsensical_dpi_is_none():
    img = Image.fromarray(noise(6, 8))
    assert decode_image(save(img, "PNG", dpi=(0, 0))).dpi is None  # pHYs of 0 pixels per metre
    assert Image.open(io.BytesIO(save(img, "PNG", dpi=(0, 0)))).info["dpi"] == (0, 0)
    assert imageio._valid_dpi((float("nan"), 300)) is None and imageio._valid_dpi((300, float("inf"))) is None
    assert imageio._valid_dpi((-72, 72)) is None and imageio._valid_dpi("72") is None
    assert imageio._valid_dpi((72, 96)) == (72.0, 96.0)


def test_dpi_follows_a_quarter_turn():
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(save(Image.fromarray(noise(16, 24)), "JPEG", dpi=(300, 150), exif=exif.tobytes()))
    assert out.rgb.shape == (24, 16, 3) and out.dpi == (150.0, 300.0)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_dpi_is_written(fmt):
    for dpi, expected in ((300, (300, 300)), ((300, 72), (300, 72)), (96.0, (96, 96))):
        data = encode_image(noise(6, 8), fmt, dpi=dpi)
        # PNG stores whole pixels per metre: off by at most half of one, 0.0127 dpi (300 -> 299.9994, 96 -> 96.012)
        np.testing.assert_allclose(Image.open(io.BytesIO(data)).info["dpi"], expected, atol=0.0127)
        np.testing.assert_allclose(decode_image(data).dpi, expected, atol=0.0127)
    assert "dpi" not in Image.open(io.BytesIO(encode_image(noise(6, 8), fmt))).info


def test_dpi_is_accepted_but_not_stored_for_webp_and_avif():
    for fmt in ("webp", "avif") if imageio.AVIF_SUPPORTED else ("webp",):
        data = encode_image(noise(6, 8), fmt, dpi=300)
        assert decode_image(data).dpi is None  # Pillow has no way to write it (documented in encode_image)


@pytest.mark.parametrize("bad", [0, -1, 10_001, float("nan"), float("inf"), True, "300", (300,), (300, 0), (300, 72, 1)])
def test_invalid_dpi_is_a_settings_error(bad):
    with pytest.raises(SettingsError, match="dpi must be a number above 0 and at most 10000"):
        encode_image(noise(4, 4), "png", dpi=bad)


def test_dpi_limits_are_accepted():
    np.testing.assert_allclose(decode_image(encode_image(noise(4, 4), "jpeg", dpi=10_000)).dpi, (10_000, 10_000))
    assert decode_image(encode_image(noise(4, 4), "jpeg", dpi=np.float32(72))).dpi == (72.0, 72.0)


# --- quality and lossless -------------------------------------------------------------------------------


def smooth(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth colour gradient (compresses well, so lossy codecs keep it close)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], axis=2).astype(np.uint8)


def test_quality_changes_size():
    arr = noise(48, 64, seed=11)
    for fmt in output_formats()[1:]:  # jpeg, webp (and avif)
        assert len(encode_image(arr, fmt, quality=20)) < len(encode_image(arr, fmt, quality=95)), fmt
        assert encode_image(arr, fmt) == encode_image(arr, fmt, quality=95)  # 95 is the default


@pytest.mark.parametrize("channels", [3, 4])
def test_webp_lossless_round_trip_is_exact(channels):
    arr = noise(24, 32, channels, seed=12)
    if channels == 4:
        arr[0, :, 3] = 0  # fully transparent pixels keep their stored colour too
    out = decode_image(encode_image(arr, "webp", lossless=True))
    assert out.format == "WEBP"
    np.testing.assert_array_equal(out.rgb, arr[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(alpha_to_uint8(out.alpha), arr[..., 3])
    assert not np.array_equal(decode_image(encode_image(arr, "webp")).rgb, arr[..., :3])  # lossy by default


def test_lossless_is_refused_where_impossible_and_checked():
    arr = noise(4, 4)
    assert encode_image(arr, "png", lossless=True) == encode_image(arr, "png")  # PNG is always lossless
    with pytest.raises(SettingsError, match="JPEG cannot be lossless"):
        encode_image(arr, "jpeg", lossless=True)
    with pytest.raises(SettingsError, match="lossless must be True or False"):
        encode_image(arr, "webp", lossless="yes")


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
@pytest.mark.parametrize("bad", [0, 101, -5, 50.0, True, "95"])
def test_invalid_quality_is_a_settings_error(fmt, bad):
    if fmt == "avif" and not imageio.AVIF_SUPPORTED:
        with pytest.raises(UnsupportedFormatError):
            encode_image(noise(4, 4), fmt, quality=bad)
        return
    with pytest.raises(SettingsError, match="Quality must be a whole number from 1 to 100"):
        encode_image(noise(4, 4), fmt, quality=bad)


# --- AVIF -----------------------------------------------------------------------------------------------

NO_AVIF = "this Pillow build cannot write AVIF (PIL.features.check('avif') is False); choose PNG, JPEG or WebP"


def test_avif_support_matches_pillow():
    from PIL import features

    assert imageio.AVIF_SUPPORTED == bool(features.check("avif"))
    assert ("avif" in MIME_TYPES) == ("avif" in output_formats()) == ("AVIF" in imageio.SUPPORTED_INPUT_FORMATS)
    assert ("avif" in MIME_TYPES) == imageio.AVIF_SUPPORTED == (".avif" in imageio.IMAGE_SUFFIXES)


def test_avif_round_trip_or_clear_refusal():
    arr = smooth()
    if imageio.AVIF_SUPPORTED:
        out = decode_image(encode_image(arr, "avif"))
        assert out.format == "AVIF" and out.rgb.shape == arr.shape and out.alpha is None
        assert np.abs(out.rgb.astype(int) - arr).mean() < 3
        rgba = np.dstack([arr, np.full(arr.shape[:2], 255, np.uint8)])
        rgba[:, :32, 3] = 0
        out = decode_image(encode_image(rgba, "avif"))
        np.testing.assert_allclose(alpha_to_uint8(out.alpha), rgba[..., 3], atol=2)
        assert format_from_suffix("out.AVIF") == "avif" and MIME_TYPES["avif"] == "image/avif"
        with pytest.raises(SettingsError, match="cannot write lossless AVIF.*PNG or WebP"):
            encode_image(arr, "avif", lossless=True)
        with pytest.raises(UnsupportedFormatError, match="at most 32768 pixels"):
            encode_image(np.zeros((2, 32_769, 3), np.uint8), "avif")
    else:
        with pytest.raises(UnsupportedFormatError) as info:
            encode_image(arr, "avif")
        assert NO_AVIF in str(info.value)
        with pytest.raises(UnsupportedFormatError) as info:
            format_from_suffix("out.avif")
        assert NO_AVIF in str(info.value)


def test_avif_refused_with_the_reason_when_pillow_lacks_it(monkeypatch):
    monkeypatch.setattr(imageio, "AVIF_SUPPORTED", False)
    assert output_formats() == ("png", "jpeg", "webp")
    for call in (lambda: encode_image(noise(4, 4), "AVIF"), lambda: format_from_suffix("portrait.avif")):
        with pytest.raises(UnsupportedFormatError) as info:
            call()
        assert NO_AVIF in str(info.value)
    with pytest.raises(UnsupportedFormatError, match=r"choose PNG, JPEG or WebP\.$"):
        encode_image(noise(4, 4), "gif")
