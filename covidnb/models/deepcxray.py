"""DeepCXray's network (Xu et al., IEEE Access 2018, §III-A, §IV, §IV-F Table 6): a torchvision
backbone, global average pooling, 14 sigmoid finding outputs and, for the "AT" models, one
auxiliary "normal vs abnormal" output.

``build_model("deepcxray", backbone="inception_v3", num_classes=14, aux=True)`` returns
``(findings N×14, normal N×1)`` logits with ``aux=True`` (the first element is the prediction,
CONTRACTS.md), else the findings alone. How the auxiliary output enters the loss is the loss's
``aux`` option (:mod:`covidnb.losses.deepcxray`).

Input (§IV-A): the dataset gives a grey image in [0, 1]; the network scales it to [−1, 1] and
copies it to 3 channels (the images are resized to 299² by the dataset's ``image_size``).
InceptionV3 needs at least 75² pixels.

Backbones (Table 6): ``inception_v3``, ``resnet50``/``101``/``152``, ``vgg16``/``19`` from
torchvision, each cut after its last convolution (VGG's two 4,096-unit layers are dropped, so
every backbone has the same head: pooling + one linear layer; this is a choice, the paper does not
say), and ``tiny`` (three convolutions; smoke runs only, not from the paper). ImageNet weights
(``pretrained=True``) are read through torchvision's weight enums; offline (as here) they cannot
be downloaded, the model stays randomly initialised, and ``weights_info`` says so for the run
record. :meth:`DeepCXrayNet.cam` gives the class activation map (the head's weights over the
last feature map) used for the boxes of §IV-G.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from covidnb.models import MODELS

IMAGENET = {
    "inception_v3": "Inception_V3_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V1",
    "resnet152": "ResNet152_Weights.IMAGENET1K_V1",
    "vgg16": "VGG16_Weights.IMAGENET1K_V1",
    "vgg19": "VGG19_Weights.IMAGENET1K_V1",
}
BACKBONES = (*IMAGENET, "tiny")
INCEPTION_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                    "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                    "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def _torchvision(arch: str, pretrained: bool) -> tuple[nn.Module, dict]:
    import torchvision

    kw = {"aux_logits": False, "init_weights": True} if arch == "inception_v3" else {}
    net = getattr(torchvision.models, arch)(weights=None, **kw)
    info = {"requested": pretrained, "loaded": False, "source": None,
            "message": "pretrained=False: random initialisation"}
    if pretrained:
        try:
            state = torchvision.models.get_weight(IMAGENET[arch]).get_state_dict(progress=False, check_hash=True)
            missing = net.load_state_dict(state, strict=False).missing_keys
            info.update(loaded=True, source=f"torchvision:{IMAGENET[arch]}", message=f"missing keys: {missing}")
        except Exception as exc:  # noqa: BLE001 — offline (URLError), a corrupt cache (RuntimeError): train from scratch
            info["message"] = (f"{IMAGENET[arch]} could not be read ({type(exc).__name__}: {exc}); "
                               f"training {arch} from scratch (random initialisation)")
            warnings.warn(info["message"], stacklevel=3)
    return net, info


def feature_extractor(backbone: str, pretrained: bool = False, width: int = 16) -> tuple[nn.Module, int, dict]:
    """``(module mapping N×3×H×W to its last feature map N×F×h×w, F, weights_info)``."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown DeepCXray backbone {backbone!r}; known: {BACKBONES}")
    if backbone == "tiny":
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c_out
        return nn.Sequential(*layers[:-1]), c_in, {"requested": False, "loaded": False, "source": None,
                                                   "message": "tiny: not a paper backbone, random initialisation"}
    net, info = _torchvision(backbone, pretrained)
    if backbone == "inception_v3":
        return nn.Sequential(*[getattr(net, n) for n in INCEPTION_LAYERS]), 2048, info
    if backbone.startswith("resnet"):
        return nn.Sequential(*list(net.children())[:-2]), 2048, info
    return net.features, 512, info  # VGG


class DeepCXrayNet(nn.Module):
    """Backbone → global average pooling → ``num_classes`` finding logits (+ 1 normal logit)."""

    def __init__(self, backbone: str = "inception_v3", num_classes: int = 14, in_channels: int = 1,
                 aux: bool = True, pretrained: bool = False, width: int = 16, dropout: float = 0.0):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"DeepCXray takes grey (1) or RGB (3) input, got in_channels={in_channels}")
        self.backbone_name, self.in_channels = backbone, in_channels
        self.features, dim, self.weights_info = feature_extractor(backbone, pretrained, width)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)
        self.normal_head = nn.Linear(dim, 1) if aux else None

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] → [−1, 1], grey copied to 3 channels (§IV-A)."""
        x = x * 2 - 1
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.prepare(x))

    def forward(self, x: torch.Tensor):
        pooled = self.drop(self.feature_map(x).mean(dim=(2, 3)))
        findings = self.head(pooled)
        if self.normal_head is None:
            return findings
        return findings, self.normal_head(pooled)

    @torch.no_grad()
    def cam(self, x: torch.Tensor, index: int | None = None) -> torch.Tensor:
        """Class activation maps (Zhou et al. 2016), ``N×K×h×w`` on the feature grid: the head's
        weights of each finding (or of finding ``index`` only, ``K = 1``) over the last feature
        map. Upsampling and scaling to an image are :mod:`covidnb.chapters.deepcxray_cam`'s."""
        fmap = self.feature_map(x)
        w = self.head.weight if index is None else self.head.weight[index:index + 1]
        return torch.einsum("kf,nfhw->nkhw", w, fmap)


@MODELS.register("deepcxray")
def deepcxray(in_channels: int = 1, num_classes: int = 14, **kw) -> DeepCXrayNet:
    return DeepCXrayNet(num_classes=num_classes, in_channels=in_channels, **kw)
