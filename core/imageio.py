"""Decode uploaded images to numpy arrays and encode results, with clear errors for bad files.

Every decoded image is ``rgb`` uint8 HxWx3 in sRGB with its EXIF orientation applied, plus the file's
own transparency (if it has any) as ``alpha`` float32 HxW in [0, 1].

Size limit: decoding refuses images with more than the configured maximum (``core.limits``: 100
megapixels by default, about 12 000 x 8 300) after reading only the header, so a small file whose
header claims a huge size (a "decompression bomb") costs no memory.  The same value is Pillow's own
guard (``PIL.Image.MAX_IMAGE_PIXELS``); ``max_pixels`` can lower the limit per call but not raise it.
Images with an aspect ratio above ``core.limits.MAX_ASPECT_RATIO`` are refused from the header too.

High bit depths are reduced to 8 bits: integer modes (``I;16*``, ``I``) are read as 0..65535 and
divided by 257 with rounding; float images (``F``) are read as 0..1 if their maximum is <= 1, else as
0..65535 like 16-bit ones; values outside the range are clipped.

HEIC/HEIF (iPhone photos) is read through pillow-heif, registered with Pillow at import; without it
other formats still work and a HEIC file gets a message saying to ``pip install pillow-heif``.  libheif
applies the HEIF rotation/mirror boxes on decode and pillow-heif resets the EXIF orientation to 1, so a
HEIC photo comes out upright exactly once, like a JPEG whose EXIF orientation is applied here.
AVIF is read and written when this Pillow build has it (``AVIF_SUPPORTED``).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

from core.errors import ImageDecodeError, ImageTooLargeError, PortraitStudioError, SettingsError
from core.limits import MAX_ASPECT_RATIO, pixel_limits
from core.png import encode_png

try:  # optional: HEIC/HEIF input (iPhone photos); everything else works without it
    import pillow_heif
except ImportError:
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

MAX_IMAGE_PIXELS: int = pixel_limits().max_pixels  # the limit at import; decode_image reads the current one

# zlib level for PNG (`core.png`): level 1 against 3 and 6, in time and bytes, in bench/results/png.md.
PNG_COMPRESS_LEVEL = 1
#: True when pillow-heif is installed and registered, so HEIC/HEIF photos can be read.
HEIF_SUPPORTED: bool = pillow_heif is not None
#: True when this Pillow build reads and writes AVIF (``PIL.features.check("avif")``).
AVIF_SUPPORTED: bool = bool(features.check("avif"))
#: Pillow format names decode_image accepts ("HEIF" is what pillow-heif reports for .heic/.heif files).
SUPPORTED_INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF") + (("AVIF",) if AVIF_SUPPORTED else ()) + (
    ("HEIF",) if HEIF_SUPPORTED else ()
)
#: File suffixes of the images Portrait Studio reads: the command line's folder mode, the dashboard's
#: uploaders and the benchmarks all use this list.  .heic/.heif are listed even without pillow-heif, so
#: such a photo gets the message saying how to enable it rather than being skipped silently.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif") + (
    (".avif",) if AVIF_SUPPORTED else ()
)
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
if AVIF_SUPPORTED:
    MIME_TYPES["avif"] = "image/avif"

_READABLE = "JPEG, PNG, WebP, BMP, TIFF, GIF, " + (
    "HEIC" if HEIF_SUPPORTED else "HEIC (after pip install pillow-heif)"
) + (", AVIF" if AVIF_SUPPORTED else "")
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF"}  # output key -> name for messages
_SUFFIX_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".avif": "avif"}
# avif: AV1 allows 65 536, but libavif's decoder refuses sides over 32 768 by default (checked: a 32 769 x 2
# AVIF written by Pillow does not open again), so nothing larger is written.
_MAX_SIDE = {"png": 2**31 - 1, "jpeg": 65_535, "webp": 16_383, "avif": 32_768}
_MAX_DPI = 10_000.0
_NO_AVIF = "this Pillow build cannot write AVIF (PIL.features.check('avif') is False); choose PNG, JPEG or WebP"
# ISO BMFF brands: HEVC-coded HEIF (iPhone .heic) and the generic HEIF ones (also used by some AVIFs).
_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_DEFAULT_QUALITY = 95
_EXIF_ORIENTATION = 0x0112
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ICC_SPACE = {"RGB": "RGB ", "L": "GRAY", "CMYK": "CMYK"}  # Pillow mode -> ICC colour space
_MULTI_FRAME = {"TIFF": ("multi-page TIFF", "pages"), "MPO": ("multi-picture JPEG (MPO)", "images")}


class UnsupportedFormatError(PortraitStudioError, ValueError):
    """An output format or file suffix Portrait Studio cannot write, or one that cannot hold the image."""


@dataclass(frozen=True)
class DecodedImage:
    """rgb uint8 HxWx3 sRGB, alpha float32 HxW in [0, 1] or None, Pillow format name, notes, dpi (x, y) or None."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    format: str
    notes: tuple[str, ...] = ()
    dpi: tuple[float, float] | None = None  # of the upright image, as the file states it; None if absent or invalid


def decode_image(
    source: bytes | str | os.PathLike | BinaryIO, *, max_pixels: int | None = None, name: str | None = None
) -> DecodedImage:
    """Decode bytes/path/binary file to rgb uint8 HxWx3 sRGB upright, alpha float32 HxW [0, 1] or None.

    `name` (e.g. the uploaded file's name) is used in error messages instead of a generic "The image".
    ``dpi`` is Pillow's ``info["dpi"]`` (JFIF density, PNG pHYs, TIFF/BMP resolution) as floats, x and y
    swapped when the EXIF orientation turns the image by 90 degrees; None when absent or outside (0, 10000].
    """
    notes: list[str] = []
    max_pixels = pixel_limits().max_pixels if max_pixels is None else min(max_pixels, pixel_limits().max_pixels)
    with contextlib.ExitStack() as stack:
        stream, name = _open_stream(source, stack, f"'{name}'" if name else None)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = stack.enter_context(_open_header(stream, name, max_pixels))
            fmt = "JPEG" if img.format == "MPO" else img.format or "unknown"  # MPO: multi-picture JPEG
            try:
                n_frames = getattr(img, "n_frames", 1)
                if n_frames > 1 and fmt == "HEIF":  # pillow-heif opens the primary image, not always the first
                    notes.append(f"HEIF with {n_frames} images: used the primary image")
                elif n_frames > 1:
                    kind, unit = _MULTI_FRAME.get(img.format, (f"animated {fmt}", "frames"))
                    notes.append(f"{kind}: used the first of {n_frames} {unit}")
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _bomb_error(exc, name, max_pixels, img.size) from exc
            except Exception as exc:  # Pillow raises OSError, SyntaxError, EOFError... on bad data
                raise ImageDecodeError(
                    f"{name} is truncated or corrupt ({exc}). Re-export or re-download it and try again."
                ) from exc
        icc = img.info.get("icc_profile")
        dpi = _valid_dpi(img.info.get("dpi"))
        img, orientation = _upright(img, notes)
        if dpi and orientation in (5, 6, 7, 8):  # turned by 90 degrees: the stored x density is now y
            dpi = (dpi[1], dpi[0])
        colour, alpha = _colour_and_alpha(img, notes)
        if icc:
            colour = _to_srgb(colour, icc, notes)
        rgb = np.array(colour.convert("RGB"), dtype=np.uint8, order="C")
    return DecodedImage(rgb=rgb, alpha=alpha, format=fmt, notes=tuple(notes), dpi=dpi)


def read_rgb(
    source: bytes | str | os.PathLike | BinaryIO, *, max_pixels: int | None = None
) -> np.ndarray:
    """Decode an image to rgb uint8 HxWx3 sRGB (EXIF-upright), ignoring any transparency."""
    return decode_image(source, max_pixels=max_pixels).rgb


def encode_image(
    image: np.ndarray,
    fmt: str,
    *,
    quality: int | None = None,
    lossless: bool = False,
    dpi: float | tuple[float, float] | None = None,
) -> bytes:
    """Encode uint8 HxW grey, HxWx3 RGB or HxWx4 RGBA as png/jpeg/webp/avif bytes (avif if AVIF_SUPPORTED).

    ``quality`` 1..100 (default 95) for JPEG, WebP and AVIF; ignored for PNG.  ``lossless=True`` gives an
    exact WebP (quality then sets the compression effort) and is a no-op for PNG; JPEG cannot be lossless
    and Pillow's AVIF encoder has no lossless mode, so both refuse it.  ``dpi`` (a number or an (x, y)
    pair, each in (0, 10000]) is stored in PNG (as pixels per metre, so 300 reads back as 299.9994) and
    JPEG (JFIF density, whole numbers); Pillow cannot store it in WebP or AVIF, where it is checked and
    then left out.
    """
    key = _output_format(fmt)
    arr = _check_array(image)
    if key == "jpeg" and arr.ndim == 3 and arr.shape[2] == 4:
        raise UnsupportedFormatError(
            "JPEG cannot store transparency: save as PNG or WebP, "
            "or flatten the image onto a background first."
        )
    if max(arr.shape[:2]) > _MAX_SIDE[key]:
        raise UnsupportedFormatError(
            f"{key.upper()} images can be at most {_MAX_SIDE[key]} pixels wide and high, this one is "
            f"{arr.shape[1]}x{arr.shape[0]}: save as PNG or downscale it."
        )
    if key != "png" and quality is not None and (
        isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100
    ):
        raise SettingsError(f"Quality must be a whole number from 1 to 100, not {quality!r}.")
    if not isinstance(lossless, (bool, np.bool_)):
        raise SettingsError(f"lossless must be True or False, not {lossless!r}.")
    if lossless and key == "jpeg":
        raise SettingsError("JPEG cannot be lossless: save as PNG or WebP for an exact copy, or turn lossless off.")
    if lossless and key == "avif":
        raise SettingsError(
            "This Pillow build cannot write lossless AVIF: save as PNG or WebP for an exact copy, "
            "or turn lossless off."
        )
    density = None if dpi is None else _check_dpi(dpi)
    if key == "png":
        return encode_png(arr, PNG_COMPRESS_LEVEL, density)
    q = _DEFAULT_QUALITY if quality is None else int(quality)
    extra = {} if density is None else {"dpi": density}
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if key == "jpeg":
        img.save(buf, "JPEG", quality=q, **extra)
    elif key == "webp" and lossless:
        img.save(buf, "WEBP", lossless=True, quality=q, exact=True)  # exact: keep colours under alpha 0
    elif key == "webp":
        img.save(buf, "WEBP", quality=q)
    else:
        img.save(buf, "AVIF", quality=q)
    return buf.getvalue()


def output_formats() -> tuple[str, ...]:
    """The format keys encode_image writes, in menu order: "png", "jpeg", "webp" (+ "avif" if AVIF_SUPPORTED)."""
    return ("png", "jpeg", "webp") + (("avif",) if AVIF_SUPPORTED else ())


def format_from_suffix(path: str | os.PathLike) -> str:
    """Output format from a file suffix: ".png" -> "png", ".jpg"/".jpeg" -> "jpeg", ".webp", ".avif" (if supported)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".avif" and not AVIF_SUPPORTED:
        raise UnsupportedFormatError(f"Cannot save '{os.fspath(path)}': {_NO_AVIF}.")
    if suffix not in _SUFFIX_FORMATS:
        suffixes = [s for s, key in _SUFFIX_FORMATS.items() if key in output_formats()]
        raise UnsupportedFormatError(
            f"Cannot tell the output format from '{os.fspath(path)}': "
            f"use a name ending in {', '.join(suffixes[:-1])} or {suffixes[-1]}."
        )
    return _SUFFIX_FORMATS[suffix]


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Map alpha float HxW in [0, 1] (clipped, NaN -> 0) to uint8 HxW in 0..255 with rounding."""
    a = np.asarray(alpha)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"alpha_to_uint8() expects a float array in [0, 1], got dtype {a.dtype}.")
    a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0)
    return np.rint(a * 255.0).astype(np.uint8)


# --- decoding helpers -------------------------------------------------------------------------------


def _open_stream(source: object, stack: contextlib.ExitStack, label: str | None = None) -> tuple[BinaryIO, str]:
    """A binary stream of the encoded image and a name for messages (`label` if given); refuses empty or missing input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream, name = io.BytesIO(bytes(source)), label or "The image"
    elif isinstance(source, (str, os.PathLike)):
        name = label or f"'{os.fspath(source)}'"
        try:
            stream = stack.enter_context(open(source, "rb"))
        except FileNotFoundError as exc:
            raise ImageDecodeError(f"{name} does not exist: check the path and try again.") from exc
        except OSError as exc:
            reason = exc.strerror or exc
            raise ImageDecodeError(f"Could not open {name} ({reason}): check it is a readable file.") from exc
    elif hasattr(source, "read"):
        file_name = getattr(source, "name", None)
        name = label or (f"'{file_name}'" if isinstance(file_name, str) else "The image")
        try:
            data = source.read()
        except OSError as exc:
            raise ImageDecodeError(f"Could not read {name} ({exc}): choose the file again.") from exc
        if isinstance(data, str):
            raise TypeError("decode_image() needs a file opened in binary mode ('rb'), not text mode.")
        stream = io.BytesIO(bytes(data))
    else:
        kind = type(source).__name__
        raise TypeError(f"decode_image() takes bytes, a path or a binary file object, not {kind}.")
    if stream.seek(0, os.SEEK_END) == 0:
        raise ImageDecodeError(f"{name} is empty (0 bytes): choose the image again or re-export it.")
    stream.seek(0)
    return stream, name


def _open_header(stream: BinaryIO, name: str, max_pixels: int) -> Image.Image:
    """Open ``stream`` lazily (header only) and refuse unreadable formats and too many pixels."""
    try:
        img = Image.open(stream, formats=SUPPORTED_INPUT_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, name, max_pixels, _header_size(stream)) from exc
    except UnidentifiedImageError as exc:
        if not HEIF_SUPPORTED and _is_heic(stream):
            raise ImageDecodeError(
                f"{name} is a HEIC/HEIF photo, and reading those needs the pillow-heif package: run "
                "`pip install pillow-heif` and try again, or convert the photo to JPEG."
            ) from exc
        raise ImageDecodeError(
            f"{name} is not an image Portrait Studio can read (supported: {_READABLE}). "
            "Save it as JPEG or PNG and try again."
        ) from exc
    except Exception as exc:  # a recognised header with broken fields
        raise ImageDecodeError(f"{name} is corrupt ({exc}). Re-export or re-download it.") from exc
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise _too_large(name, width * height, max_pixels, (width, height))
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        img.close()
        raise ImageDecodeError(
            f"{name} is {width}x{height} pixels, an aspect ratio of {max(width, height) // max(1, min(width, height))}:1; "
            f"Portrait Studio takes images up to {MAX_ASPECT_RATIO}:1 (a strip holds no person and no usable "
            f"background). Crop it and try again."
        )
    return img


def _is_heic(stream: BinaryIO) -> bool:
    """True if ``stream`` starts with an ISO BMFF 'ftyp' box naming a HEIF brand (and no AVIF brand)."""
    try:
        stream.seek(0)
        head = stream.read(256)
    except Exception:
        return False
    if head[4:8] != b"ftyp":
        return False
    size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]} | {head[i:i + 4] for i in range(16, min(max(size, 16), len(head)) - 3, 4)}
    return bool(brands & _HEVC_BRANDS) or (bool(brands & _HEIF_BRANDS) and not brands & {b"avif", b"avis"})


def _valid_dpi(value: object) -> tuple[float, float] | None:
    """Pillow's info["dpi"] as (x, y) floats, or None if it is missing, malformed or outside (0, 10000]."""
    if not isinstance(value, (tuple, list)):
        return None
    try:
        x, y = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError, ArithmeticError):  # not a pair of numbers (TIFF rationals may divide by 0)
        return None
    if not all(math.isfinite(v) and 0 < v <= _MAX_DPI for v in (x, y)):
        return None
    return x, y


def _mp(pixels: float) -> str:
    """Pixel count as megapixels for messages: 2_500_000_000 -> "2500", 1_500_000 -> "1.5"."""
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}" if mp >= 1 else f"{mp:.2g}"


def _too_large(
    name: str, pixels: int, limit: int, size: tuple[int, int] | None = None
) -> ImageTooLargeError:
    """The error for an image of ``pixels`` pixels (``size`` = width, height if known) over ``limit``."""
    dims = f"{size[0]}x{size[1]} pixels, " if size else ""
    advice = "Downscale it"
    if size:
        scale = (limit / pixels) ** 0.5
        advice += f" (for example to {int(size[0] * scale)}x{int(size[1] * scale)})"
    return ImageTooLargeError(
        f"{name} is too large: {dims}{_mp(pixels)} MP, more than the limit of {_mp(limit)} MP. "
        f"{advice} and try again."
    )


def _header_size(stream: BinaryIO) -> tuple[int, int] | None:
    """(width, height) as the header claims, read without Pillow's pixel guard; None if no reader takes it.

    Only used to word the error for an image Pillow's guard refused at open (its message gives the pixel
    count, not the size). Reading a header allocates nothing for the pixels.
    """
    try:
        stream.seek(0)
        prefix = stream.read(16)
    except Exception:
        return None
    for fmt in SUPPORTED_INPUT_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None:
            continue
        try:
            accepted = accept(prefix) if accept else True
            if not accepted or isinstance(accepted, str):
                continue
            stream.seek(0)
            width, height = factory(stream, "").size
            return int(width), int(height)
        except Exception:  # not this format, or a broken header: try the next reader
            continue
    return None


def _bomb_error(
    exc: Exception, name: str, max_pixels: int, size: tuple[int, int] | None = None
) -> ImageTooLargeError:
    """Turn Pillow's decompression-bomb error or warning into an ImageTooLargeError (naming `size` if known)."""
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    if size and size[0] * size[1] > limit:
        return _too_large(name, size[0] * size[1], limit, size)
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if match:
        return _too_large(name, int(match.group(1)), limit)
    return ImageTooLargeError(f"{name} is over the limit of {_mp(limit)} MP. Downscale it and try again.")


def _upright(img: Image.Image, notes: list[str]) -> tuple[Image.Image, int]:
    """Apply the EXIF orientation, as photo viewers do, and return it (1 if none); broken EXIF is noted and ignored.

    HEIF: libheif has already turned the image (irot/imir boxes) and pillow-heif has reset the EXIF tag
    to 1, keeping the old value in info["original_orientation"]; that value is noted, nothing is turned.
    """
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        upright = ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF must not stop an otherwise good photo
        notes.append("could not read the EXIF orientation; used the image as stored")
        return img, 1
    if img.format == "HEIF" and orientation == 1:
        orientation = img.info.get("original_orientation") or 1
    if orientation not in range(1, 9):
        orientation = 1
    if orientation != 1:
        notes.append(f"turned upright using EXIF orientation {orientation}")
    return upright, orientation


def _colour_and_alpha(img: Image.Image, notes: list[str]) -> tuple[Image.Image, np.ndarray | None]:
    """Split into a colour image (mode RGB, L or CMYK) and alpha float32 HxW [0, 1] (None if opaque)."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_deep_to_uint8(np.asarray(img), mode, notes)), None
    if mode == "PA" or ("transparency" in img.info and mode in ("1", "L", "P", "RGB")):
        img = img.convert("RGBA")
    elif mode in ("La", "RGBa"):
        img = img.convert(mode.upper())
    if img.mode in ("LA", "RGBA"):
        a = np.asarray(img.getchannel("A"))
        colour = img.convert(img.mode[:-1])  # drops alpha without compositing: colours as stored
        alpha = a.astype(np.float32) / np.float32(255) if a.min() < 255 else None
        return colour, alpha
    if img.mode in ("L", "RGB", "CMYK"):
        return img, None
    return img.convert("L" if mode == "1" else "RGB"), None  # 1, P, RGBX, YCbCr, LAB, HSV...


def _deep_to_uint8(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """Reduce a 16/32-bit int or float HxW array to uint8 HxW (ranges: see the module docstring)."""
    a = np.nan_to_num(arr.astype(np.float64), nan=0.0)
    if mode == "F" and a.max(initial=0.0) <= 1.0:
        scaled = a * 255.0
        notes.append("32-bit floating-point image (values 0..1) reduced to 8 bits")
    else:
        scaled = a / 257.0
        notes.append("16-bit image reduced to 8 bits" if mode != "F" else
                     "32-bit floating-point image (values 0..65535) reduced to 8 bits")
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_srgb(img: Image.Image, icc: bytes, notes: list[str]) -> Image.Image:
    """Convert img (mode RGB, L or CMYK) from its embedded ICC profile to sRGB (mode RGB) if possible."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        label = (ImageCms.getProfileDescription(profile) or "").strip() or "unnamed"
    except Exception:  # any unreadable profile: use the colours as stored
        notes.append("ignored a broken embedded ICC colour profile; colours are used as stored")
        return img
    if "srgb" in label.lower():
        return img
    space = profile.profile.xcolor_space
    if _ICC_SPACE.get(img.mode) != space:
        notes.append(f"ignored embedded ICC profile '{label}': it is for {space.strip()} images")
        return img
    try:
        converted = ImageCms.profileToProfile(img, profile, _SRGB, outputMode="RGB")
    except Exception as exc:
        notes.append(f"ignored embedded ICC profile '{label}' ({exc}); colours are used as stored")
        return img
    notes.append(f"converted embedded ICC profile '{label}' to sRGB")
    return converted


# --- encoding helpers -------------------------------------------------------------------------------


def _output_format(fmt: str) -> str:
    """Normalise an output format name: "PNG" -> "png", "jpg"/".JPEG" -> "jpeg", "webp", "avif"; else refuse."""
    key = fmt.strip().lower().lstrip(".") if isinstance(fmt, str) else ""
    key = "jpeg" if key == "jpg" else key
    if key == "avif" and not AVIF_SUPPORTED:
        raise UnsupportedFormatError(f"Cannot save as {fmt!r}: {_NO_AVIF}.")
    if key not in output_formats():
        names = [_FORMAT_NAMES[k] for k in output_formats()]
        raise UnsupportedFormatError(f"Cannot save as {fmt!r}: choose {', '.join(names[:-1])} or {names[-1]}.")
    return key


def _check_dpi(dpi: object) -> tuple[float, float]:
    """Check an encode_image dpi (a number or an (x, y) pair, each in (0, 10000]) and return (x, y) floats."""
    values = dpi if isinstance(dpi, (tuple, list)) else (dpi, dpi)
    ok = len(values) == 2 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        and math.isfinite(v) and 0 < v <= _MAX_DPI
        for v in values
    )
    if not ok:
        raise SettingsError(
            f"dpi must be a number above 0 and at most {_MAX_DPI:.0f} (e.g. 300), or an (x, y) pair of such "
            f"numbers, not {dpi!r}."
        )
    return float(values[0]), float(values[1])


def _check_array(image: np.ndarray) -> np.ndarray:
    """Check ``image`` is uint8 HxW, HxWx3 or HxWx4 and return it C-contiguous."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"encode_image() expects a numpy array, not {type(image).__name__}.")
    if image.dtype != np.uint8:
        hint = " (for a matte in [0, 1] use alpha_to_uint8())" if image.dtype.kind == "f" else ""
        raise ValueError(
            f"encode_image() expects a uint8 array, got {image.dtype}: convert it to uint8 first{hint}."
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape:
        shape = image.shape
        raise ValueError(f"encode_image() expects a non-empty HxW, HxWx3 or HxWx4 array, got shape {shape}.")
    return np.ascontiguousarray(image)
