"""What a chapter's data notebook shows about the image files of any dataset: sizes, aspect
ratios, colour modes and files whose bytes are not the format their name says (from
:func:`covidnb.data.overview.file_table`)."""

from __future__ import annotations

import pandas as pd


def file_summary(files: pd.DataFrame) -> pd.DataFrame:
    """Per class: image count, width / height / aspect ratio (min, median, max), the share of
    non-square images, PIL modes, and files whose bytes are not the format their name says."""
    f = files.assign(aspect=files["width"] / files["height"])
    rows = {}
    for cls, g in f.groupby("class"):
        rows[cls] = {
            "images": len(g),
            "width min / median / max": f"{g.width.min()} / {int(g.width.median())} / {g.width.max()}",
            "height min / median / max": f"{g.height.min()} / {int(g.height.median())} / {g.height.max()}",
            "aspect (w/h) min / median / max": f"{g.aspect.min():.2f} / {g.aspect.median():.2f} / {g.aspect.max():.2f}",
            "non-square %": round(100 * float((g.width != g.height).mean()), 1),
            "modes": ", ".join(f"{m}: {k}" for m, k in g["mode"].value_counts().items()),
            "misnamed files": int(g["misnamed"].sum()),
        }
    return pd.DataFrame(rows).T


def size_figure(files: pd.DataFrame):
    """Width × height per image (log axes), the aspect-ratio histogram and the colour modes,
    by class."""
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    for cls, g in files.groupby("class"):
        a.scatter(g.width, g.height, s=8, alpha=0.6, label=cls)
        b.hist(g.width / g.height, bins=40, alpha=0.6, label=cls)
    lo, hi = files[["width", "height"]].min().min(), files[["width", "height"]].max().max()
    a.plot([lo, hi], [lo, hi], c="grey", lw=0.8, ls="--")
    a.set(xscale="log", yscale="log", xlabel="width (px)", ylabel="height (px)", title="image sizes")
    b.set(xlabel="aspect ratio w/h", ylabel="images", title="aspect ratios")
    files.groupby(["mode", "class"]).size().unstack(fill_value=0).plot.bar(ax=c, rot=0)
    c.set(title="PIL colour modes", ylabel="images")
    a.legend(fontsize="small")
    fig.tight_layout()
    return fig
