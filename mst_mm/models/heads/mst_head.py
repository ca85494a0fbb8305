from contextlib import contextmanager
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.parametrizations import weight_norm


@MODELS.register_module()
class MSTHead(BaseModule):
    """DINO-style projection head of MST's student and teacher (Sec. 4.1).

    ``in -> [Linear -> (BN) -> GELU] x (num_layers - 1) -> Linear -> L2
    normalise -> weight-normalised Linear (no bias) -> out``: a 3-layer MLP
    with hidden 2048 and bottleneck 256, then a K = 65536 prototype layer.

    The paper keeps BN in the head (Table 6: 73.9 with BN, 73.1 without),
    with running statistics updated from the two global views only
    (Appendix C): call ``forward(x, update_stats=False)`` for local views.

    Shapes: (B, in_channels) -> (B, out_channels).

    Follows DINO (facebookresearch/dino, vision_transformer.py,
    ``DINOHead``): the same layers, L2 normalisation, weight-normalised
    last layer and initialisation; tests/test_models/test_mst_head.py checks
    it against DINOHead's arithmetic.

    Args:
        in_channels (int): Backbone cls-token dimension (384 for DeiT-S).
        out_channels (int): K, the output dimension. Defaults to 65536.
        hidden_channels (int): Defaults to 2048.
        bottleneck_channels (int): Defaults to 256.
        num_layers (int): Linear layers of the MLP. Defaults to 3.
        use_bn (bool): BN after the hidden linear layers. Defaults to True.
        norm_cfg (dict): The BN used when ``use_bn`` (``SyncBN`` for the
            paper's multi-GPU runs). Defaults to ``dict(type='BN1d')``.
        norm_last_layer (bool): Fix the weight-norm magnitude of the last
            layer to 1 (DINO's ``norm_last_layer``); DINO uses False for
            ViT-S/16. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 65536,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 use_bn: bool = True,
                 norm_cfg: dict = dict(type='BN1d'),
                 norm_last_layer: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'MSTHead: num_layers={num_layers} must be >= 1')
        layers = []
        prev = in_channels
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(prev, hidden_channels))
            if use_bn:
                layers.append(build_norm_layer(norm_cfg, hidden_channels)[1])
            layers.append(nn.GELU())
            prev = hidden_channels
        layers.append(nn.Linear(prev, bottleneck_channels))
        self.mlp = nn.Sequential(*layers)
        self.last_layer = weight_norm(
            nn.Linear(bottleneck_channels, out_channels, bias=False))
        self.norm_last_layer = norm_last_layer
        self._init_last_layer()

    @property
    def last_layer_magnitude(self) -> nn.Parameter:
        """The weight-norm magnitude g of the last layer (its real name
        depends on the PyTorch weight-norm API in use)."""
        return self.last_layer.parametrizations.weight.original0

    def _init_last_layer(self) -> None:
        with torch.no_grad():
            self.last_layer_magnitude.fill_(1.)
        self.last_layer_magnitude.requires_grad = not self.norm_last_layer

    def init_weights(self) -> None:
        """DINO's initialisation: truncated normal (std 0.02) MLP weights,
        zero biases, last-layer magnitude 1. Pretrained init_cfg wins."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            return
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                nn.init.zeros_(m.bias)
        self._init_last_layer()

    @contextmanager
    def _frozen_bn_stats(self):
        """Normalise with batch statistics but leave running ones alone."""
        bns = [m for m in self.mlp.modules() if isinstance(m, _BatchNorm)]
        saved = [bn.momentum for bn in bns]
        for bn in bns:
            bn.momentum = 0.
        try:
            yield
        finally:
            for bn, momentum in zip(bns, saved):
                bn.momentum = momentum

    def forward(self,
                x: torch.Tensor,
                update_stats: bool = True) -> torch.Tensor:
        """(B, in_channels) -> (B, out_channels).

        Args:
            x (Tensor): cls tokens.
            update_stats (bool): Update BN running statistics (global
                views) or not (local views).
        """
        if update_stats or not self.training:
            x = self.mlp(x)
        else:
            with self._frozen_bn_stats():
                x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2)
        return self.last_layer(x)
