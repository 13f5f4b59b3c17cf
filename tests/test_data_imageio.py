"""Decoding by content: JPEG under .png, RGBA, palette, 16-bit, corrupt files."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from covidnb.data.imageio import CorruptImageError, load_image, load_resized_uint8


def _jpeg_named_png(shared_data):
    folder = shared_data / "covid-ct" / "Images-processed" / "CT_COVID"
    return sorted(p for p in folder.glob("*.png") if p.read_bytes()[:3] == b"\xff\xd8\xff")


def test_jpeg_bytes_under_png_names_decode(shared_data):
    files = _jpeg_named_png(shared_data)
    assert len(files) == 34  # PROVENANCE: 34 CT_COVID .png files hold JPEG data
    for f in files[:6]:
        arr = load_image(f, channels=3)
        with Image.open(f) as im:
            assert im.format == "JPEG"
            w, h = im.size
        assert arr.shape == (h, w, 3) and arr.dtype == np.float32
        assert 0.0 <= arr.min() and arr.max() <= 1.0


def test_nih_rgba_decodes_to_grey_and_rgb(shared_data):
    f = shared_data / "nih-chestxray14" / "images" / "00000004_000.png"
    with Image.open(f) as im:
        assert im.mode == "RGBA"
        ref = np.asarray(im.convert("L"), dtype=np.float32) / 255.0  # alpha is 255 everywhere
    grey = load_image(f, channels=1)
    assert grey.shape == (1024, 1024, 1)
    np.testing.assert_allclose(grey[..., 0], ref, atol=1.0 / 255 + 1e-6)
    t = load_image(f, channels=3, as_tensor=True)
    assert isinstance(t, torch.Tensor) and t.shape == (3, 1024, 1024)


def test_modes_made_by_hand(tmp_path):
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))  # 8 x 16
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    np.testing.assert_allclose(load_image(tmp_path / "grey.png")[..., 0], grey / 255.0, atol=1e-6)

    deep = (np.arange(8 * 16, dtype=np.uint16).reshape(8, 16) * 512).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # uint16 -> mode I;16
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_allclose(load_image(tmp_path / "deep.png")[..., 0], deep / 65535.0, atol=1e-6)

    pal = Image.new("P", (4, 4))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((1, 2), 1)
    pal.save(tmp_path / "pal.png")
    rgb = load_image(tmp_path / "pal.png", channels=3)
    assert tuple(rgb[2, 1]) == (1.0, 0.0, 0.0) and tuple(rgb[0, 0]) == (0.0, 0.0, 0.0)
    assert load_image(tmp_path / "pal.png", channels=1)[2, 1, 0] == pytest.approx(0.299, abs=1e-6)

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3] = 255  # opaque
    rgba[1, 1, 3] = 0  # transparent: composited on black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png", channels=1)
    assert out[0, 0, 0] == pytest.approx(200 / 255, abs=1e-6)
    assert out[1, 1, 0] == 0.0


def test_resize_gives_uint8_of_requested_size(shared_data):
    f = _jpeg_named_png(shared_data)[0]
    out = load_resized_uint8(f, 32, channels=1)
    assert out.shape == (32, 32, 1) and out.dtype == np.uint8


def test_truncated_copy_raises_naming_the_file_and_leaves_original(shared_data, tmp_path):
    src = shared_data / "nih-chestxray14" / "images" / "00000001_000.png"
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    with pytest.raises(CorruptImageError) as err:
        load_image(bad)
    assert str(bad) in str(err.value)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_garbage_raises_corrupt(tmp_path):
    bad = tmp_path / "noise.jpg"
    bad.write_bytes(b"this is not an image" * 10)
    with pytest.raises(CorruptImageError, match="noise.jpg"):
        load_image(bad)
    with pytest.raises(FileNotFoundError, match="absent.png"):
        load_image(tmp_path / "absent.png")
