import math
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class GlobalImageDecoder(BaseModule):
    """MST's global image decoder (paper Sec. 3.3, Eq. 9).

    A small CNN restores the whole image from the student's patch tokens:
    ``log2(patch_size)`` stages of Conv3x3-BN-ReLU followed by a 2x
    up-sampling (up-sampling is kept at 2x per stage to limit artefacts, so
    4 stages take H/16 back to H), then a 3x3 convolution to the image
    channels. It only ever sees the two global views, so its BN running
    statistics come from global views only (Sec. 3.3, Appendix C).

    Shapes: (B, C, H/p, W/p) -> (B, out_channels, H, W).

    Args:
        in_channels (int): Token dimension C of the backbone (384 for DeiT-S).
        patch_size (int): Patch size p, a power of two. Defaults to 16.
        channels (Sequence[int]): Output channels of each stage; its length
            must be log2(patch_size). Defaults to (256, 128, 64, 32).
        out_channels (int): Channels of the restored image. Defaults to 3.
        norm_cfg (dict): Normalisation of each stage. Use ``SyncBN`` for the
            paper's multi-GPU setting (Appendix C). Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
        upsample_mode (str): ``nn.Upsample`` mode. Defaults to 'bilinear'.
        channels_last (bool): Keep the weights in channels-last (NHWC)
            memory format and make the input so. The backbones' maps are
            transposed tokens, already NHWC in memory, and PyTorch's
            convolutions follow their input's layout, so this changes the
            weights' layout only (and the layout of an NCHW input from
            elsewhere). The same numbers either way. Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 patch_size: int = 16,
                 channels: Sequence[int] = (256, 128, 64, 32),
                 out_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 upsample_mode: str = 'bilinear',
                 channels_last: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_stages = math.log2(patch_size) if patch_size > 0 else -1
        if num_stages < 1 or not float(num_stages).is_integer():
            raise ValueError(
                f'GlobalImageDecoder: patch_size={patch_size!r} must be a '
                'power of two >= 2 (each stage up-samples by 2x)')
        if len(channels) != int(num_stages):
            raise ValueError(
                f'GlobalImageDecoder: channels={tuple(channels)} has '
                f'{len(channels)} stages, but patch_size={patch_size} needs '
                f'log2({patch_size}) = {int(num_stages)}')
        self.patch_size = patch_size
        align = False if upsample_mode in ('bilinear', 'bicubic') else None
        stages = []
        prev = in_channels
        for ch in channels:
            stages.append(
                nn.Sequential(
                    ConvModule(
                        prev,
                        ch,
                        3,
                        padding=1,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg),
                    nn.Upsample(
                        scale_factor=2,
                        mode=upsample_mode,
                        align_corners=align)))
            prev = ch
        self.stages = nn.Sequential(*stages)
        self.out_conv = build_conv_layer(
            None, prev, out_channels, 3, padding=1)
        self.channels_last = channels_last
        if channels_last:
            # In place, so initialisation and checkpoint loading (which copy
            # into the parameters) keep the layout.
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H/p, W/p) patch tokens -> (B, out_channels, H, W)."""
        if x.dim() != 4:
            raise ValueError('GlobalImageDecoder expects patch tokens as a '
                             f'(B, C, H/p, W/p) map, got {tuple(x.shape)}')
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.out_conv(self.stages(x))
