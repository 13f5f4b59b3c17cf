"""Data-loading time with and without the decoded-image cache (not a test).

Epoch 1 decodes every image of the real COVID-CT train split (425 images: PNG and JPEG
figures of many sizes), resizes it to 224 px and writes the cache; epoch 2 reads the cached
uint8 arrays. Usage::

    COVIDNB_DATA=../shared/data python benchmarks/bench_cache.py [--image-size 224] [--channels 1]

The cache goes to a temporary folder, so the user's cache is untouched. Goal: epoch 2 at least
5x faster than epoch 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def run_epoch(ds) -> float:
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]["image"]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if "COVIDNB_DATA" not in os.environ:
        os.environ["COVIDNB_DATA"] = str(
            Path(__file__).resolve().parents[1].parent / "shared" / "data"
        )
    from covidnb.data import open_dataset

    with tempfile.TemporaryDirectory(prefix="covidnb-bench-") as cache:
        os.environ["COVIDNB_CACHE"] = cache
        ds = open_dataset(
            "covid-ct",
            args.split,
            image_size=args.image_size,
            channels=args.channels,
            cache=True,
            fallback="error",
        )
        e1 = run_epoch(ds)
        e2 = run_epoch(ds)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*.npy"))
        print(
            f"covid-ct/{args.split}: {len(ds)} images at {args.image_size} px, "
            f"{args.channels} channel(s)"
        )
        print(
            f"epoch 1 (decode + resize + write cache): {e1:7.2f} s  "
            f"({1000 * e1 / len(ds):6.1f} ms/image)"
        )
        print(
            f"epoch 2 (cache):                         {e2:7.2f} s  "
            f"({1000 * e2 / len(ds):6.1f} ms/image)"
        )
        print(
            f"speed-up: {e1 / e2:.1f}x   cache size: {size / 2**20:.1f} MiB "
            f"(hits {ds.cache.hits}, misses {ds.cache.misses})"
        )


if __name__ == "__main__":
    main()
