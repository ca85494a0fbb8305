"""The FLOP count behind tools/benchmark.py's MFU, against hand counts."""
import torch
import torch.nn.functional as F

from mst_mm.utils.flops import count_flops, peak_tflops


def test_linear_and_attention_flops_forward_and_backward():
    """2 FLOPs per multiply-add; the CPU attention kernel is counted (PyTorch
    only counts the CUDA ones): forward 2 products, backward 5."""
    b, h, n, d = 2, 3, 7, 4
    q = torch.randn(b, h, n, d, requires_grad=True)
    attention = 2 * 2 * b * h * n * n * d
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == (
        attention)
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().
                       backward()) == attention + 5 * attention // 2

    linear = torch.nn.Linear(8, 16)
    x = torch.randn(5, 8)
    with torch.no_grad():
        assert count_flops(lambda: linear(x)) == 2 * 5 * 8 * 16


def test_deit_small_forward_is_4_6_gmac():
    """DeiT-S at 224 px: 4.6 GMAC (its paper's figure), 9.2 GFLOP."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(
        dict(
            type='VisionTransformer',
            arch='deit-small',
            img_size=224,
            patch_size=16,
            out_type='cls_token'))
    with torch.no_grad():
        flops = count_flops(lambda: model(torch.randn(1, 3, 224, 224)))
    assert abs(flops / 2e9 - 4.6) < 0.05


def test_peak_table_tells_h100_variants_apart():
    assert peak_tflops('NVIDIA H100 80GB HBM3') == 989.5
    assert peak_tflops('NVIDIA H100 PCIe') == 756.0
    assert peak_tflops('NVIDIA H100 NVL') == 835.0
    assert peak_tflops('NVIDIA H200') == 989.5
    assert peak_tflops('NVIDIA A100-SXM4-80GB') == 312.0
    assert peak_tflops('Some Future GPU') is None
