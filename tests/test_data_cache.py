"""The decoded-image cache: epoch 2 does not decode; writes are atomic; stale entries rebuilt."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from covidnb.data import CTSliceDataset, ImageCache
from covidnb.data import base as base_mod


def test_second_epoch_reads_cache_not_decoder(mini_covid_ct, isolated_cache, monkeypatch):
    ds = CTSliceDataset(mini_covid_ct, "train", image_size=24)
    first = [ds[i]["image"] for i in range(len(ds))]
    assert ds.cache.misses == len(ds) and ds.cache.hits == 0
    entries = list(isolated_cache.rglob("*.npy"))
    assert len(entries) == len(ds) and all(np.load(e).dtype == np.uint8 for e in entries)
    assert not list(isolated_cache.rglob(".tmp-*"))

    def fail(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(base_mod, "load_resized_uint8", fail)
    again = CTSliceDataset(mini_covid_ct, "train", image_size=24)
    second = [again[i]["image"] for i in range(len(again))]
    assert again.cache.hits == len(ds)
    assert all((a == b).all() for a, b in zip(first, second))


def test_key_separates_size_channels_and_file_version(mini_covid_ct, isolated_cache):
    img = next((mini_covid_ct / "Images-processed" / "CT_COVID").iterdir())
    c1, c3 = ImageCache("covid-ct", 24, 1), ImageCache("covid-ct", 24, 3)
    assert c1.entry(img) != c3.entry(img) and c1.entry(img) != ImageCache("covid-ct", 32, 1).entry(
        img
    )
    before = c1.entry(img)
    data = img.read_bytes()
    img.write_bytes(data + b"\0")  # size changes -> new key
    assert c1.entry(img) != before


def test_damaged_entry_is_rebuilt(mini_covid_ct, isolated_cache):
    ds = CTSliceDataset(mini_covid_ct, "val", image_size=16)
    good = ds[0]["image"].clone()
    entry = ds.cache.entry(ds.paths[0])
    entry.write_bytes(b"garbage")
    again = CTSliceDataset(mini_covid_ct, "val", image_size=16)
    assert (again[0]["image"] == good).all() and again.cache.misses == 1
    assert np.load(entry).shape == (16, 16, 1)


def test_concurrent_readers_and_writers(mini_covid_ct, isolated_cache):
    ds = CTSliceDataset(mini_covid_ct, "test", image_size=20)
    ref = [ds[i]["image"] for i in range(len(ds))]
    ds.cache.clear()
    errors = []

    def worker():
        try:
            local = CTSliceDataset(mini_covid_ct, "test", image_size=20)
            for _ in range(3):
                for i in range(len(local)):
                    assert (local[i]["image"] == ref[i]).all()
        except Exception as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(list(isolated_cache.rglob("*.npy"))) == len(ds)
    assert not list(isolated_cache.rglob(".tmp-*"))


def test_cache_disabled(mini_covid_ct, isolated_cache):
    ds = CTSliceDataset(mini_covid_ct, "train", image_size=16, cache=False)
    ds[0]
    assert ds.cache is None and not isolated_cache.exists()


@pytest.mark.parametrize("bad", [0, 2])
def test_channels_validated(mini_covid_ct, bad):
    ds = CTSliceDataset(mini_covid_ct, "train", image_size=16, channels=bad, cache=False)
    with pytest.raises(ValueError, match="channels"):
        ds[0]
