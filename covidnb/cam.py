"""Class activation maps with pytorch-grad-cam (≥ 1.5.4): galleries and CAM → bounding box.

pytorch-grad-cam wants a model that returns one logits tensor, so models returning
``(main, *aux)`` are wrapped to return ``main`` only. A single-logit binary model (``N×1``) is
explained through its one logit: the positive class is ``+z``, the negative class ``−z``. The CAM
object is used as a context manager (it releases its hooks; without that, memory grows), and
in-place ReLU modules are switched off while it runs, since an in-place op on a hooked activation
breaks the gradient hooks (DenseNet).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

METHODS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
}


class MainOutput(nn.Module):
    """Wraps a model so that it returns only its main logits (element 0 of a tuple)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        from covidnb.models import main_output

        return main_output(self.model(x))


class LogitTarget:
    """CAM target ``sign · logit[:, index]``; ``sign=-1`` explains the negative class of a
    single-logit binary model."""

    def __init__(self, index: int = 0, sign: float = 1.0):
        self.index, self.sign = index, sign

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.sign * (output[self.index] if output.ndim == 1 else output[:, self.index])


def find_target_layer(model: nn.Module) -> nn.Module:
    """The last ``Conv2d`` (or ``Conv3d``) module of ``model``, the usual Grad-CAM layer."""
    last = None
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            last = m
    if last is None:
        raise ValueError(
            f"{type(model).__name__} has no Conv2d/Conv3d layer; pass target_layer explicitly"
        )
    return last


@contextmanager
def _no_inplace_relu(model: nn.Module):
    changed = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in changed:
        m.inplace = False
    try:
        yield
    finally:
        for m in changed:
            m.inplace = True


@dataclass
class CamResult:
    index: int
    sample_id: str
    image: np.ndarray  # H×W×3 float in [0, 1] (a volume's middle slice)
    cam: np.ndarray  # H×W in [0, 1]
    label: str
    prediction: str
    probability: float  # of the predicted class (multi-label: of the top label)
    target: str  # the class the CAM explains


def _display_image(img: torch.Tensor) -> np.ndarray:
    a = img.detach().float().cpu().numpy()
    if a.ndim == 4:  # C×D×H×W volume: middle slice
        a = a[:, a.shape[1] // 2]
    a = a[:3] if a.shape[0] >= 3 else np.repeat(a[:1], 3, axis=0)
    return np.clip(np.transpose(a, (1, 2, 0)), 0.0, 1.0).astype(np.float32)


def _label_text(label: Any, classes: list[str], multilabel: bool) -> str:
    if multilabel:
        on = [c for c, v in zip(classes, np.asarray(label).ravel()) if v >= 0.5]
        return ", ".join(on) or "none"
    return classes[int(label)]


def compute_cams(
    model: nn.Module,
    dataset,
    indices: Sequence[int],
    target_layer: nn.Module | None = None,
    method: str = "gradcam",
    target_class: str | int | None = None,
) -> list[CamResult]:
    """The CAM of each sample ``dataset[i]``; ``target_class`` ``None`` explains the prediction."""
    import pytorch_grad_cam

    from covidnb.train import probabilities

    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; known: {', '.join(METHODS)}")
    classes = list(dataset.classes)
    multilabel = bool(getattr(dataset, "multilabel", False))
    samples = [dataset[int(i)] for i in indices]
    if not samples:
        raise ValueError("compute_cams: no indices given")
    device = next(model.parameters()).device
    x = torch.stack([s["image"] for s in samples]).to(device)
    wrapped = MainOutput(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = wrapped(x)
        probs = probabilities(logits, multilabel).cpu().numpy()
        single_logit = logits.ndim == 2 and logits.shape[1] == 1 and not multilabel
        if target_class is None:
            tgt = probs.argmax(axis=1)
        else:
            k = classes.index(target_class) if isinstance(target_class, str) else int(target_class)
            if not 0 <= k < len(classes):
                raise ValueError(f"target_class {target_class!r} is not one of {classes}")
            tgt = np.full(len(samples), k)
        if single_logit:
            targets = [LogitTarget(0, 1.0 if k == 1 else -1.0) for k in tgt]
        else:
            targets = [LogitTarget(int(k)) for k in tgt]
        layer = target_layer if target_layer is not None else find_target_layer(model)
        cam_cls = getattr(pytorch_grad_cam, METHODS[method])
        with _no_inplace_relu(model), cam_cls(model=wrapped, target_layers=[layer]) as cam:
            maps = cam(input_tensor=x, targets=targets)
    finally:
        model.train(was_training)
    out = []
    for j, (i, s) in enumerate(zip(indices, samples)):
        m = maps[j]
        if m.ndim == 3:  # a volume's CAM: the slice shown
            m = m[m.shape[0] // 2]
        pred_k = int(probs[j].argmax())
        pred = _label_text(probs[j], classes, True) if multilabel else classes[pred_k]
        out.append(
            CamResult(
                int(i),
                str(s.get("sample_id", i)),
                _display_image(s["image"]),
                np.clip(m, 0, 1).astype(np.float32),
                _label_text(s["label"], classes, multilabel),
                pred,
                float(probs[j, pred_k]),
                classes[int(tgt[j])],
            )
        )
    return out


def cam_gallery(
    model: nn.Module,
    dataset,
    indices: Sequence[int],
    *,
    bbox_threshold: float | None = None,
    image_weight: float = 0.5,
    **cam_options: Any,
):
    """A figure with one row per sample: the image, then the CAM over it, titled with the label,
    the prediction (and its probability) and the class explained. ``cam_options``
    (``target_layer``, ``method``, ``target_class``) go to :func:`compute_cams`;
    ``bbox_threshold`` also draws :func:`cam_to_bbox`'s box."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from pytorch_grad_cam.utils.image import show_cam_on_image

    results = compute_cams(model, dataset, indices, **cam_options)
    method = cam_options.get("method", "gradcam")
    fig, axes = plt.subplots(len(results), 2, figsize=(5.6, 2.6 * len(results)), squeeze=False)
    for (ax_img, ax_cam), r in zip(axes, results):
        ax_img.imshow(r.image)
        ax_img.set_title(f"{short_id(r.sample_id)}\nlabel: {r.label}", fontsize=7)
        ax_cam.imshow(show_cam_on_image(r.image, r.cam, use_rgb=True, image_weight=image_weight))
        ax_cam.set_title(
            f"pred: {r.prediction} (p={r.probability:.2f})\n{method} for {r.target}", fontsize=7
        )
        if bbox_threshold is not None:
            box = cam_to_bbox(r.cam, bbox_threshold)
            if box is not None:
                x0, y0, x1, y1 = box
                ax_cam.add_patch(
                    Rectangle(
                        (x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="white", lw=1.5
                    )
                )
        for ax in (ax_img, ax_cam):
            ax.axis("off")
    fig.results = results  # the arrays behind the figure, for further analysis
    fig.tight_layout()
    cam_colorbar(fig, axes)
    return fig


def short_id(sample_id: Any, width: int = 22) -> str:
    """A sample id short enough for a panel title: the file name, cut in the middle."""
    from pathlib import Path

    name = Path(str(sample_id)).name
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2):]


def cam_colorbar(fig, axes) -> None:
    """One colour bar for every CAM panel of ``fig``: the jet scale ``show_cam_on_image`` uses,
    0 (no weight) to 1 (the image's strongest region): a CAM is normalised per image."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    # an inset of the top-right panel: the figure's own list of panels stays one per image
    corner = axes[0][-1]
    cax = corner.inset_axes([1.05, 0.0, 0.06, 1.0])
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=plt.get_cmap("jet")), cax=cax)
    bar.set_label("CAM weight (per image, 0 to max)", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def cam_to_bbox(
    cam: np.ndarray, threshold: float = 0.5, largest: bool = True
) -> tuple[int, int, int, int] | None:
    """Box ``(x0, y0, x1, y1)`` (pixels; ``x1``, ``y1`` exclusive) around the CAM region at or above
    ``threshold × max(cam)``: its largest 8-connected component, or all of it with
    ``largest=False``. ``None`` when the CAM is zero everywhere."""
    from skimage.measure import label, regionprops

    cam = np.asarray(cam, dtype=float)
    if cam.ndim != 2:
        raise ValueError(f"cam_to_bbox needs an H×W map, got shape {cam.shape}")
    if not 0 < threshold <= 1:
        raise ValueError(f"cam_to_bbox: threshold must lie in (0, 1], got {threshold}")
    peak = cam.max()
    if not np.isfinite(peak) or peak <= 0:
        return None
    mask = cam >= threshold * peak
    if largest:
        regions = regionprops(label(mask, connectivity=2))
        r0, c0, r1, c1 = max(regions, key=lambda r: r.area).bbox
    else:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return int(c0), int(r0), int(c1), int(r1)


# -- CAMs stored with a run --------------------------------------------------------------------
# Reference runs are committed without their checkpoints (hundreds of MB each), so the CAMs a
# gallery shows are computed once, while the checkpoint still exists, and stored beside the
# run's predictions: the gallery is then redrawn from the record, like every other figure.
CAMS_FILE = "cams.npz"
_CAM_ARRAYS = ("index", "sample_id", "image", "cam", "label", "prediction", "probability", "target")


def balanced_indices(targets: Sequence[int], per_class: int, labels: Sequence[int] | None = None,
                     seed: int = 0) -> list[int]:
    """``per_class`` sample indices drawn without replacement for each label in ``labels``
    (default: every label present, ascending), in that order, from one seeded generator: the
    same slices for every model that is explained on the same split."""
    targets = np.asarray(targets)
    labels = sorted(set(targets.tolist())) if labels is None else list(labels)
    rng = np.random.default_rng(seed)
    out = []
    for k in labels:
        pool = np.flatnonzero(targets == k)
        if len(pool) < per_class:
            raise ValueError(f"balanced_indices: label {k} has {len(pool)} sample(s), "
                             f"{per_class} asked for")
        out += [int(i) for i in rng.choice(pool, per_class, replace=False)]
    return out


def save_cams(results: Sequence[CamResult], path, **meta: Any):
    """Write ``results`` to ``path`` (a compressed ``.npz``: images as uint8, CAMs as float16,
    texts as strings; ``meta`` values as ``meta_<name>`` strings). Written atomically."""
    from covidnb.runs.atomic import atomic_path

    if not results:
        raise ValueError("save_cams: no CAM to save")
    arrays = {
        "index": np.array([r.index for r in results], dtype=np.int64),
        "sample_id": np.array([r.sample_id for r in results]),
        "image": np.stack([np.round(np.clip(r.image, 0, 1) * 255).astype(np.uint8) for r in results]),
        "cam": np.stack([r.cam for r in results]).astype(np.float16),
        "label": np.array([r.label for r in results]),
        "prediction": np.array([r.prediction for r in results]),
        "probability": np.array([r.probability for r in results], dtype=np.float64),
        "target": np.array([r.target for r in results]),
        **{f"meta_{k}": np.array(str(v)) for k, v in meta.items()},
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_cams(path) -> tuple[list[CamResult], dict[str, str]]:
    """The CAMs :func:`save_cams` wrote to ``path`` and their ``meta`` fields."""
    import zipfile

    try:
        z = np.load(path, allow_pickle=False)
        if isinstance(z, np.lib.npyio.NpzFile):
            with z:
                a = {k: z[k] for k in z.files}
        else:  # a bare .npy array
            a = {}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        # numpy reads bytes that are no npz as a pickle, and refuses them with a ValueError
        raise ValueError(f"{path}: unreadable CAM file ({exc})") from exc
    missing = [k for k in _CAM_ARRAYS if k not in a]
    if missing:
        raise ValueError(f"{path}: not a CAM file of covidnb.cam.save_cams "
                         f"(missing arrays: {', '.join(missing)})")
    results = [
        CamResult(int(a["index"][i]), str(a["sample_id"][i]),
                  a["image"][i].astype(np.float32) / 255.0, a["cam"][i].astype(np.float32),
                  str(a["label"][i]), str(a["prediction"][i]), float(a["probability"][i]),
                  str(a["target"][i]))
        for i in range(len(a["index"]))
    ]
    meta = {k.removeprefix("meta_"): str(v) for k, v in a.items() if k.startswith("meta_")}
    return results, meta


def save_run_cams(run, per_class: int = 2, labels: Sequence[int] | None = None, seed: int = 0,
                  layer: str | None = None, method: str = "gradcam"):
    """Compute the CAMs of ``run``'s best checkpoint on :func:`balanced_indices` of its test
    split and store them in the run's folder (:data:`CAMS_FILE`). ``layer`` defaults to the
    model's ``cam_layer_name``, else its last conv layer. Needs the checkpoint."""
    from covidnb.experiment import test_split

    test = test_split(run)
    indices = balanced_indices(test.targets, per_class, labels, seed)
    results, name = compute_run_cams(run, test, indices, layer=layer, method=method)
    return save_cams(results, run.path / CAMS_FILE, method=method, layer=name,
                     checkpoint="best", split="test", per_class=per_class, seed=seed)


def compute_run_cams(run, dataset, indices: Sequence[int], layer: str | None = None,
                     method: str = "gradcam", target_class: str | int | None = None):
    """:func:`compute_cams` of ``run``'s best checkpoint, hooked at ``layer`` (default: the
    model's ``cam_layer_name``, else its last conv layer); returns the results and the layer's
    name."""
    from covidnb.experiment import load_model

    model = load_model(run)
    name = layer or getattr(model, "cam_layer_name", None)
    target = model.get_submodule(name) if name else find_target_layer(model)
    return (compute_cams(model, dataset, indices, target_layer=target, method=method,
                         target_class=target_class), name or "last conv")


def run_cams(run) -> tuple[list[CamResult], dict[str, str]] | None:
    """The CAMs stored with ``run`` (see :func:`save_run_cams`), or ``None`` when it has none."""
    path = run.path / CAMS_FILE
    return load_cams(path) if path.exists() else None
