"""ImageNet weights for the torchvision backbones, with an offline fallback (Hu et al. 2021, §4.3 and
Algorithm 1, line 2: ImageNet-pretrained backbone, randomly initialised auxiliary chain).

Sources, tried in order when ``pretrained=True``:

1. ``weights_file`` — a local path or an http(s) URL to a state dict (``.pth``); with
   ``sha256`` given the file's digest must match (a URL download is checked the same way);
2. torchvision's weight enum for the architecture (``VGG16_BN_Weights.IMAGENET1K_V1`` …), which
   reads the torch hub cache (``<torch.hub.get_dir()>/checkpoints``) or downloads and checks the
   hash prefix in the file name.

When neither works (no network here) the model keeps its random initialisation and a warning
says so and how to provide the file. Either way the outcome is stored in ``model.weights_info``
(a dict for the run record). A 3-channel ImageNet first convolution is adapted to a 1-channel
input by summing its kernels over RGB, so a grey image replicated to RGB gives the same response;
layers whose shape differs from ImageNet's (the classifier head for ``num_classes != 1000``) and
layers ImageNet lacks (the DSN side branches) keep their random initialisation.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "TORCHVISION_WEIGHTS",
    "WeightsUnavailable",
    "load_imagenet_weights",
    "no_weights_info",
    "sha256sum",
]

TORCHVISION_WEIGHTS = {
    "vgg16_bn": "VGG16_BN_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnext50": "ResNeXt50_32X4D_Weights.IMAGENET1K_V1",
    "densenet169": "DenseNet169_Weights.IMAGENET1K_V1",
    "mobilenet_v2": "MobileNet_V2_Weights.IMAGENET1K_V1",
}

# torchvision's DenseNet checkpoints use the old key names ("norm.1"); torchvision renames them the
# same way in torchvision.models.densenet._load_state_dict
_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


class WeightsUnavailable(RuntimeError):
    """The requested weights could not be read (offline, missing file)."""


def no_weights_info(reason: str = "pretrained=False: random initialisation") -> dict:
    return {"requested": False, "loaded": False, "source": None, "sha256": None, "message": reason}


def sha256sum(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_state_dict(path: Path) -> dict:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise WeightsUnavailable(f"{path}: not a state dict of tensors")
    return obj


def _from_file(weights_file, sha256: str | None) -> tuple[dict, str, str]:
    spec = str(weights_file)
    if urllib.parse.urlparse(spec).scheme in ("http", "https"):
        dest = (
            Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlparse(spec).path).name
        )
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(spec, str(dest), progress=False)
            except Exception as exc:  # offline, HTTP error
                raise WeightsUnavailable(f"{spec}: download failed ({exc})") from exc
        path = dest
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"{path}: weights file not found")
    digest = sha256sum(path)
    if sha256 is not None and not digest.startswith(sha256.lower()):
        raise ValueError(f"{path}: sha256 {digest} does not match the expected {sha256}")
    return _read_state_dict(path), f"file:{spec}", digest


def _from_torchvision(arch: str) -> tuple[dict, str, str | None]:
    import torchvision

    if arch not in TORCHVISION_WEIGHTS:
        raise WeightsUnavailable(f"no torchvision ImageNet weights known for {arch!r}")
    name = TORCHVISION_WEIGHTS[arch]
    weights = torchvision.models.get_weight(name)
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # offline: URLError; corrupt cache: RuntimeError
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise WeightsUnavailable(
            f"torchvision {name} could not be read ({exc}); put {weights.url} at {cache} or pass weights_file="
        ) from exc
    return state, f"torchvision:{name}", None


def _adapt(state: dict, model: nn.Module, first_conv: str) -> tuple[dict, list[str], str]:
    """Rename DenseNet keys, adapt the first conv to the model's input channels, drop misfits."""
    state = {(_DENSENET_KEY.sub(r"\1\2", k)): v for k, v in state.items()}
    own = model.state_dict()
    note = "as is"
    key = f"{first_conv}.weight"
    if key in state and key in own and state[key].shape != own[key].shape:
        w = state[key]
        c_in = own[key].shape[1]
        if c_in == 1 and w.shape[1] == 3:
            state[key] = w.sum(dim=1, keepdim=True)
            note = "RGB kernels summed to one input channel"
        else:
            raise ValueError(f"cannot adapt {key} from {tuple(w.shape)} to {tuple(own[key].shape)}")
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in state if k not in kept)
    return kept, skipped, note


def load_imagenet_weights(
    model: nn.Module,
    arch: str,
    first_conv: str,
    weights_file=None,
    sha256: str | None = None,
    prefix: str = "",
) -> dict:
    """Load ImageNet weights into ``model`` (or its submodule ``prefix``) and return the record.

    ``first_conv``: the state-dict name of the input convolution (``"features.0"``, ``"conv1"``,
    ``"features.conv0"``). Never raises for unavailable weights: warns and records instead.
    A sha256 mismatch of an explicit ``weights_file`` does raise (a wrong file is an error).
    """
    target = model.get_submodule(prefix) if prefix else model
    info = {"requested": True, "loaded": False, "source": None, "sha256": sha256, "message": ""}
    try:
        if weights_file is not None:
            state, source, digest = _from_file(weights_file, sha256)
        else:
            state, source, digest = _from_torchvision(arch)
    except WeightsUnavailable as exc:
        info["message"] = f"{exc}; training {arch} from scratch (random initialisation)"
        warnings.warn(info["message"], stacklevel=3)
        return info
    kept, skipped, note = _adapt(state, target, first_conv)
    missing = target.load_state_dict(kept, strict=False).missing_keys
    random_init = sorted({k.rsplit(".", 1)[0] for k in missing})
    info.update(
        loaded=True,
        source=source,
        sha256=digest or sha256,
        first_conv=note,
        tensors_loaded=len(kept),
        skipped_from_checkpoint=skipped,
        random_init=[f"{prefix}.{m}" if prefix else m for m in random_init],
        message=f"ImageNet weights from {source}; {len(random_init)} modules randomly initialised",
    )
    return info
