"""Model FLOPs of a training step and the model FLOP utilisation (MFU).

MFU = (FLOPs the step's matrix products and convolutions need) / (step time
x the device's dense peak). The FLOPs are counted, not estimated: one step
runs under :class:`torch.utils.flop_counter.FlopCounterMode`, which adds up
every ``mm``/``bmm``/convolution/attention kernel the step dispatches
(teacher forward, student forward and backward, decoder), 2 FLOPs per
multiply-add. Element-wise work (norms, softmax, the optimizer) is not
counted, as in the usual MFU definition.
"""
from typing import Callable, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten

# Dense (no sparsity) bf16/fp16 tensor-core peaks in TFLOP/s, from the
# vendors' data sheets, matched against torch.cuda.get_device_name().
# More specific names first: 'H100 PCIe' and 'H100 NVL' before 'H100'.
PEAK_TFLOPS_BF16 = (
    ('H200 NVL', 835.0),
    ('H100 NVL', 835.0),
    ('H200', 989.5),
    ('H100 PCIe', 756.0),
    ('H100', 989.5),  # SXM
    ('A100', 312.0),
    ('L40S', 362.1),
    ('A10G', 70.0),
    ('V100', 125.0),  # fp16 tensor cores (no bf16): the paper's GPUs
)


def peak_tflops(device_name: str) -> Optional[float]:
    """The dense bf16 peak of a GPU named ``device_name`` (as
    ``torch.cuda.get_device_name()`` spells it), or None if it is not in
    :data:`PEAK_TFLOPS_BF16` (then pass the figure by hand)."""
    for key, tflops in PEAK_TFLOPS_BF16:
        if key.lower() in device_name.lower():
            return tflops
    return None


def _attention_flops(query, key, value, *args, out_shape=None, **kwargs):
    """Q K^T and P V: 2 products of b*h*s_q*s_k*d multiply-adds."""
    b, h, s_q, d = query
    return 4 * b * h * s_q * key[2] * d


def _attention_backward_flops(grad_out,
                              query,
                              key,
                              value,
                              *args,
                              out_shape=None,
                              **kwargs):
    """The backward pass recomputes Q K^T and needs 4 more products of the
    same size (dP, dV, dQ, dK): 5 in all."""
    b, h, s_q, d = query
    return 10 * b * h * s_q * key[2] * d


# PyTorch counts the CUDA attention kernels (flash, memory-efficient,
# cuDNN) but not the CPU one the same scaled_dot_product_attention call
# dispatches to; without these the CPU count would miss every attention map.
CPU_ATTENTION_FLOPS = {
    aten._scaled_dot_product_flash_attention_for_cpu:
    _attention_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward:
    _attention_backward_flops,
}


def count_flops(call: Callable[[], object]) -> int:
    """FLOPs of the matrix products, convolutions and attention kernels that
    ``call()`` dispatches, forward and backward alike."""
    counter = FlopCounterMode(
        display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with counter:
        call()
    return counter.get_total_flops()
