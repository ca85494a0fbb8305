from typing import List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, minus the sub-modules that have no
    trainable parameter at all.

    MST's EMA teacher (``teacher.*``) is part of the model, so that it moves
    between devices and is saved with every checkpoint, but it is never
    optimised: all its parameters have ``requires_grad=False``. The default
    constructor visits them anyway and warns once per parameter ("... is
    skipped since its requires_grad=False"), 128 lines for DeiT-S, which
    buries the warnings that matter. This constructor does not hand such
    sub-modules to the parameter-wise rules at all and says so in one line.
    A module that mixes trainable and frozen parameters (e.g. a head whose
    last-layer magnitude is fixed) still goes through the default rules,
    warning included. Everything else (``paramwise_cfg``, learning rates,
    weight decay) is the default constructor's.

    Use: ``optim_wrapper = dict(constructor=
    'TrainableParamsOptimWrapperConstructor', ...)``.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        frozen = list(module.parameters())
        if frozen and not any(p.requires_grad for p in frozen):
            print_log(
                f'{type(self).__name__}: {prefix or "the model"} has no '
                f'trainable parameter ({len(frozen)} tensors, '
                f'{sum(p.numel() for p in frozen):,} values); it is not '
                'handed to the optimizer',
                logger='current')
            return
        super().add_params(params, module, prefix, **kwargs)
