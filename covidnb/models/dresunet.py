"""DResUNet, the thesis' main model (Xu 2021 thesis §3.1, Fig. 3.1–3.4; Table 5.1).

DResUNet is the ScseResUNet layout (``resunet.py``, where every shared reading is written down)
with all three additions switched on:

- x2…x5 open with a modulated deformable 3×3 conv (DCNv2, ``deform.ModulatedDeformConv2d``;
  stride 1 in x2, 2 in x3–x5) instead of a plain one;
- x5 carries ECAsE (sSE + ECA on average- and max-pooled descriptors, ``attention.ECAsE``) after
  its last 3×3 conv;
- the head's 1×1 conv is a 1×1 modulated deformable conv, followed by FPRM (``fprm.FPRM``), which
  fuses the head map with the stem's low-level features x1.

The thesis (§4.3, Fig. 4.5) shows DResUNet's training loss fluctuating without converging and
says the learning rate was then lowered by hand (divided by 5 at a time, with the batch size
changed in step); it gives no final value, so the profiles keep the stated Adam at 1e-4 (§4.2).
"""

from __future__ import annotations

from covidnb.models import MODELS
from covidnb.models.resunet import ScseResUNet


@MODELS.register("dresunet")
def dresunet(in_channels: int = 1, num_classes: int = 1, width: int = 64, scse: bool = True,
             dropout: float = 0.5) -> ScseResUNet:
    return ScseResUNet(in_channels, num_classes, width, deformable=True, ecase=True, fprm=True,
                       scse=scse, dropout=dropout, name="dresunet")
