"""Figures and small tables of the dual_sampling chapter's notebooks (Ouyang et al. 2020):
axial / coronal views of volumes and maps (their Fig. 5 layout), the preprocessing steps,
infection-ratio histograms per class (Fig. 1 right), batch composition under uniform vs
size-balanced sampling, 3-D Grad-CAM and attention maps, and the CPU inference benchmark.

Volumes are ``D×H×W`` in the orientation of :mod:`covidnb.data.volumes` (D inferior→superior,
H anterior→posterior, W patient right→left), so an axial view is ``vol[k]`` and a coronal view
``vol[:, j]`` shown with the superior side up and the slice spacing as the aspect.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

__all__ = ["attention_and_cam", "axial_coronal", "batch_composition", "grad_cam_3d",
           "not_rerun_yet", "preprocess_figure", "ratio_histogram", "speed_benchmark", "volume_table"]

# The chapter's reference re-run (all of its plan at one profile); the book never runs it.
REFERENCE_COMMAND = "python -m covidnb.chapters.reference dual_sampling --profile {profile}"


def not_rerun_yet(runs, profile: str, skipped: str, needed: int | None = None,
                  need_all: bool = False) -> str:
    """The note a page shows in place of ``skipped`` when it has no run to show them from
    (every one of the ``needed`` runs missing, or with ``need_all`` any one), else ``""``.
    ``runs``: what :func:`~covidnb.chapters.views.collect_runs` returned, missing runs dropped or
    ``None``; ``needed``: how many configurations the page asked for (default ``len(runs)``).

    In the book's read-only mode (``covidnb book --profile reference``) the pages read only the
    committed records in ``results/dual_sampling/`` and train nothing, so before the reference
    re-run is committed the Table II / III analogues and the maps have nothing to be computed
    from. The page then says so and names the command; it never fills the gap with numbers.
    """
    from covidnb.chapters.views import read_only

    runs = list(runs)
    needed = len(runs) if needed is None else int(needed)
    n_missing = needed - sum(r is not None for r in runs)
    if n_missing >= needed or (need_all and n_missing > 0):
        where = ("the chapter's reference re-run is not committed yet (`results/dual_sampling/` holds "
                 "no record for it), and the book trains nothing" if read_only() else
                 "the store this page reads holds no finished run for it, and the page trains nothing there")
        return (f"**Not re-run yet.** This page needs {needed} run(s) at profile `{profile}` "
                f"({n_missing} missing): {where}. So {skipped} are not shown here. "
                f"`{REFERENCE_COMMAND.format(profile=profile)}` produces the reference records; "
                "the book shows them once they are committed.")
    return ""


def _centre(mask_or_vol: np.ndarray) -> tuple[int, int]:
    """Axial and coronal indices through the middle of a mask (or of the volume)."""
    m = np.asarray(mask_or_vol) > 0
    if m.any():
        idx = np.argwhere(m)
        return int(np.median(idx[:, 0])), int(np.median(idx[:, 1]))
    return m.shape[0] // 2, m.shape[1] // 2


def axial_coronal(panels: Mapping[str, np.ndarray], spacing: Sequence[float] = (1.0, 1.0, 1.0),
                  centre: tuple[int, int] | None = None, overlay: Mapping[str, np.ndarray] | None = None,
                  cmap: Mapping[str, str] | None = None, title: str | None = None, vrange=None):
    """One column per panel, axial view on top and coronal below (the paper's Fig. 5 layout).
    ``overlay``: panel name → a mask drawn as a red contour on it."""
    import matplotlib.pyplot as plt

    names = list(panels)
    first = np.asarray(panels[names[0]])
    k, j = centre or _centre(first)
    fig, axes = plt.subplots(2, len(names), figsize=(2.6 * len(names), 5.2), squeeze=False)
    aspect = float(spacing[0]) / float(spacing[2])
    for c, name in enumerate(names):
        vol = np.asarray(panels[name], dtype=np.float32)
        lo, hi = vrange if vrange is not None else (float(vol.min()), float(vol.max()) or 1.0)
        kw = {"cmap": (cmap or {}).get(name, "gray"), "vmin": lo, "vmax": hi}
        axes[0, c].imshow(vol[min(k, vol.shape[0] - 1)], **kw)
        axes[1, c].imshow(vol[:, min(j, vol.shape[1] - 1)][::-1], aspect=aspect, **kw)
        if overlay and name in overlay and np.asarray(overlay[name]).any():
            m = np.asarray(overlay[name]) > 0
            axes[0, c].contour(m[min(k, m.shape[0] - 1)], levels=[0.5], colors="r", linewidths=0.8)
            axes[1, c].contour(m[:, min(j, m.shape[1] - 1)][::-1], levels=[0.5], colors="r",
                               linewidths=0.8)
        axes[0, c].set_title(name, fontsize=9)
        for r in (0, 1):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
    axes[0, 0].set_ylabel("axial")
    axes[1, 0].set_ylabel("coronal")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def volume_table(items: Mapping[str, tuple[np.ndarray, Sequence[float]]]) -> pd.DataFrame:
    """Shape, spacing, extent and HU range of each ``name → (volume, spacing)``."""
    rows = []
    for name, (vol, sp) in items.items():
        rows.append({"volume": name, "shape D×H×W": "×".join(map(str, vol.shape)),
                     "spacing mm (D, H, W)": ", ".join(f"{s:.4g}" for s in sp),
                     "extent mm (D, H, W)": ", ".join(f"{n * s:.0f}" for n, s in zip(vol.shape, sp)),
                     "HU min": float(vol.min()), "HU max": float(vol.max())})
    return pd.DataFrame(rows)


def preprocess_figure(pre, title: str = ""):
    """The §IV-B steps of one :class:`~covidnb.data.ct_volume_preprocess.Preprocessed` volume."""
    s = pre.steps
    w = tuple(float(x) for x in pre.facts["working_spacing"])
    centre = _centre(s["lung"])
    panels = {"windowed + padded": s["padded"], "HU lung mask": s["lung"],
              "mask after scaling (0)": s["masked_after_scaling"],
              "mask before windowing (0.9)": s["masked_before_windowing"]}
    return axial_coronal(panels, w, centre, overlay={"windowed + padded": s["lung"]},
                         vrange=(0.0, 1.0), title=title)


def ratio_histogram(ratios: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                    title: str = "infection ratio per class"):
    """Histogram of ``log10`` infection ratios per class with Table III's group edges (a ratio
    of 0 is drawn at the left edge)."""
    import matplotlib.pyplot as plt

    r = np.asarray(ratios, dtype=float)
    lr = np.log10(np.clip(r, 1e-5, None))
    fig, ax = plt.subplots(figsize=(6, 3))
    bins = np.linspace(-5, 0, 41)
    for k, name in enumerate(classes):
        ax.hist(lr[np.asarray(labels) == k], bins=bins, alpha=0.6, label=name)
    for edge, style in ((0.001, ":"), (0.005, "--"), (0.030, "--")):
        ax.axvline(np.log10(edge), color="k", ls=style, lw=0.8)
    ax.set_xlabel("log10(infected / lung voxels)  (0 shown at −5)")
    ax.set_ylabel("volumes")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig


def batch_composition(dataset, n_batches: int = 200, batch_size: int = 20, seed: int = 0) -> pd.DataFrame:
    """Share of each size group in ``n_batches`` batches drawn uniformly (each volume once per
    epoch, shuffled) and by size-balanced draws (:meth:`DualSamplingPhantoms.draw`)."""
    from covidnb.sampling.size_balanced import GROUP_NAMES

    g = dataset.size_groups()
    gen = torch.Generator().manual_seed(seed)
    n = n_batches * batch_size
    uniform = torch.cat([torch.randperm(len(g.group), generator=gen)
                         for _ in range(-(-n // len(g.group)))])[:n].numpy()
    balanced = np.array([dataset.draw(gen) for _ in range(n)])
    rows = []
    for name, idx in (("uniform (US)", uniform), ("size-balanced (SS)", balanced)):
        share = np.bincount(g.group[idx], minlength=4) / n
        rows.append({"sampling": name, **{GROUP_NAMES[i]: share[i] for i in range(4)},
                     f"per batch of {batch_size}: covid_small": share[0] * batch_size,
                     f"per batch of {batch_size}: cap_large": share[3] * batch_size})
    out = pd.DataFrame(rows)
    expected = {"sampling": "SS expected (W / W_sum)", **dict(zip(GROUP_NAMES, g.group_probabilities))}
    return pd.concat([out, pd.DataFrame([expected])], ignore_index=True)


class _Main(torch.nn.Module):
    """A model's prediction only (Grad-CAM needs a tensor output)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def grad_cam_3d(model, x: torch.Tensor, target: int = 1) -> np.ndarray:
    """3-D Grad-CAM (pytorch-grad-cam) of the last stage, upsampled to the input: ``D×H×W`` in
    [0, 1]. ``target`` 1 explains the COVID-19 logit, 0 its negation (CAP)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    model = model.eval()
    with GradCAM(model=_Main(model), target_layers=[model.backbone.layer4]) as cam:
        return cam(input_tensor=x[:1], targets=[BinaryClassifierOutputTarget(int(target))])[0]


@torch.no_grad()
def attention_and_cam(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The attention module's A and T(A) (upsampled, min–max normalised) and the probability,
    for one input ``1×C×D×H×W``."""
    model = model.eval()
    f = model.features(x[:, :1])
    a, t = model.attention_maps(f, x.shape[2:])
    p = torch.sigmoid(model.fc(f.mean(dim=(2, 3, 4))))
    return {"A": a[0, 0].numpy(), "T(A)": t[0, 0].numpy(), "p_covid": float(p)}


def speed_benchmark(size: Sequence[int], width: float = 1.0, repeats: int = 1,
                    threads: int | None = None, models: Sequence[str] = ("rn34_3d", "attention_rn34_3d")) -> pd.DataFrame:
    """CPU seconds per volume of one forward pass at ``size`` (D, H, W), after one warm-up, for
    each network (eval mode, no gradients). The paper: 4.6 s per volume on one TITAN RTX GPU."""
    from covidnb.models import build_model

    if threads:
        torch.set_num_threads(int(threads))
    rows = []
    x = torch.zeros(1, 1, *[int(s) for s in size])
    for name in models:
        torch.manual_seed(0)
        m = build_model(name, in_channels=1, num_classes=1, width=width).eval()
        with torch.no_grad():
            m(x)  # warm-up
            t0 = time.perf_counter()
            for _ in range(repeats):
                m(x)
            sec = (time.perf_counter() - t0) / repeats
        rows.append({"network": name, "volume D×H×W": "×".join(map(str, size)), "width": width,
                     "parameters (M)": sum(p.numel() for p in m.parameters()) / 1e6,
                     "threads": torch.get_num_threads(), "seconds per volume": sec})
    return pd.DataFrame(rows)


def staged_volumes(names: Sequence[str] = ("midrc-ricord", "lidc-idri"), root=None,
                   limit: int | None = None) -> tuple[list[dict], str]:
    """The real CT volumes of ``names`` (manifests) in HU with their spacing:
    ``[{name, dataset, label, patient_id, hu, spacing}]`` and a note. When none is found, one
    phantom volume in HU stands in and the note says so loudly (CI without the data)."""
    from covidnb.data import open_dataset
    from covidnb.data.locate import DatasetNotFound
    from covidnb.data.volumes import read_volume

    out, missing = [], []
    for name in names:
        try:
            ds = open_dataset(name, "all", root=root, fallback="error", volume_size=(4, 16, 16))
        except DatasetNotFound:
            missing.append(name)
            continue
        for i in range(len(ds) if limit is None else min(limit, len(ds))):
            hu, sp = read_volume(ds.image_paths[i])
            out.append({"name": ds.sample_ids[i], "dataset": name,
                        "label": ds.classes[int(ds.targets[i])], "patient_id": ds.patient_ids[i],
                        "hu": hu, "spacing": sp})
    if out:
        note = "real CT: " + ", ".join(sorted({o["dataset"] for o in out}))
        return out, note + (f" (not found: {', '.join(missing)})" if missing else "")
    from covidnb.data.phantoms_3d import HU_WINDOW, DualSamplingPhantoms
    from covidnb.data.synthetic import SYNTHETIC_BANNER

    ph = DualSamplingPhantoms("test", n=2, volume_size=(40, 96, 96), classes=["CAP", "COVID-19"],
                              lung_masked=False)
    img = ph.render(1)[0]
    hu = img * (HU_WINDOW[1] - HU_WINDOW[0]) + HU_WINDOW[0]
    out = [{"name": "synthetic/1", "dataset": "phantom", "label": ph.classes[int(ph.targets[1])],
            "patient_id": "", "hu": hu, "spacing": (5.0, 3.5, 3.5)}]
    return out, f"{SYNTHETIC_BANNER} None of {', '.join(names)} was found: a phantom stands in."
