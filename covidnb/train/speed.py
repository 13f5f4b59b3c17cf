"""Settings that make ``fit`` fast on a GPU and change nothing on a CPU.

The ``paper`` profiles are meant for one GPU; these :class:`~covidnb.train.TrainConfig` fields
make that GPU busy. Each is off by default and, when on, used on CUDA only, so a CPU run (every
committed reference record) trains exactly as before, and a configuration that leaves them at
their defaults keeps its run key (``TrainConfig.to_dict`` leaves them out then).

``amp_dtype``        ``"float16"`` (default, with ``GradScaler``) or ``"bfloat16"``: autocast in
                     bf16 where the GPU supports it (Ampere and newer; no loss scaling needed),
                     float16 with a warning where it does not.
``channels_last``    the model and each batch in channels-last memory order (NHWC, or NDHWC for
                     volumes), which cuDNN's tensor-core convolutions prefer.
``cudnn_benchmark``  ``torch.backends.cudnn.benchmark``: cuDNN times its convolution algorithms
                     on the first batch of each shape and keeps the fastest (fixed-size inputs).
``memory_cache``     keep every decoded sample in memory after its first read
                     (:class:`MemoryCache`), so epochs after the first decode nothing; with
                     ``num_workers`` each worker would hold its own copy, so use it with 0
                     workers and a dataset that fits in memory.

Pinned host memory is on for every CUDA run already (``DataLoader(pin_memory=…)`` in
``covidnb.train.loop``), with non-blocking copies.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

SPEED_FIELDS = {"amp_dtype": "float16", "channels_last": False, "cudnn_benchmark": False,
                "memory_cache": False}
AMP_DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class Speed:
    """What a run actually uses, after the device is known."""

    amp_dtype: torch.dtype = torch.float16
    channels_last: bool = False
    cudnn_benchmark: bool = False
    memory_cache: bool = False
    pin_memory: bool = False

    @property
    def scale_loss(self) -> bool:
        """Loss scaling is for float16; bfloat16 has float32's range."""
        return self.amp_dtype == torch.float16


def resolve_speed(cfg, device: torch.device) -> Speed:
    """The settings of ``cfg`` that apply on ``device`` (all off but float16 on a CPU)."""
    if device.type != "cuda":
        return Speed()
    dtype = torch.float16
    if cfg.amp_dtype == "bfloat16":
        if torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        else:
            warnings.warn("amp_dtype='bfloat16' not supported by this GPU: using float16",
                          stacklevel=3)
    cache = bool(cfg.memory_cache)
    if cache and cfg.num_workers:
        # samples would be read (and kept) in the workers, which start afresh every epoch
        warnings.warn("memory_cache needs num_workers=0: not cached", stacklevel=3)
        cache = False
    return Speed(amp_dtype=dtype, channels_last=bool(cfg.channels_last),
                 cudnn_benchmark=bool(cfg.cudnn_benchmark), memory_cache=cache, pin_memory=True)


def apply_backend(speed: Speed) -> None:
    if speed.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True


def prepare_model(model: torch.nn.Module, speed: Speed) -> None:
    """The model's parameters in channels-last order (3-D when it has 3-D convolutions), done
    before the optimiser and DDP see them."""
    if not speed.channels_last:
        return
    has3d = any(isinstance(m, torch.nn.Conv3d) for m in model.modules())
    model.to(memory_format=torch.channels_last_3d if has3d else torch.channels_last)


def batch_to(x: torch.Tensor, speed: Speed) -> torch.Tensor:
    """A batch in the memory order the model was put in (unchanged unless channels-last)."""
    if not speed.channels_last:
        return x
    fmt = memory_format(x)
    return x if fmt is None else x.contiguous(memory_format=fmt)


def memory_format(x: torch.Tensor) -> torch.memory_format | None:
    """channels-last for a batch of images (4-D) or volumes (5-D); None for anything else."""
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(x.ndim)


class MemoryCache(Dataset):
    """``dataset`` with each sample kept in memory after it is first read. Every attribute of
    the wrapped dataset (``classes``, ``targets``, ``info()``, …) reads through. Only for a
    dataset without a random ``transform`` (the cached sample would freeze it): see
    :func:`memory_cached`."""

    def __init__(self, dataset):
        self.dataset = dataset
        self._items: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        item = self._items.get(i)
        if item is None:
            item = self._items[i] = self.dataset[i]
        return dict(item)

    def __getattr__(self, name):
        if name in ("dataset", "_items"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


def memory_cached(dataset):
    """``dataset`` with its decoded samples kept in memory, augmentation still drawn anew.

    A contract dataset (``covidnb.data.base``) decodes in ``_load`` and augments after it: a
    shallow copy gets a ``_load`` that remembers each decoded sample, and the ``transform``
    still runs on every read. Another dataset is cached whole only when it says it has no
    transform (``transform is None``); otherwise it is returned as it is, with a warning."""
    import copy

    load = getattr(dataset, "_load", None)
    if callable(load):
        cached: dict[int, dict] = {}

        def _load(i: int):
            if i not in cached:
                cached[i] = load(i)
            return dict(cached[i])

        clone = copy.copy(dataset)
        clone._load = _load
        return clone
    if hasattr(dataset, "transform") and dataset.transform is None:
        return MemoryCache(dataset)
    warnings.warn(f"memory_cache: {getattr(dataset, 'name', type(dataset).__name__)} may "
                  "augment its samples and has no _load to cache below that; not cached",
                  stacklevel=2)
    return dataset
