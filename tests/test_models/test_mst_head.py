import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mst_mm.models import MSTHead


def dino_head_oracle(head, x):
    """Upstream oracle: the arithmetic of ``DINOHead.forward`` in
    facebookresearch/dino, ``vision_transformer.py`` at commit
    58aabc09e056689228e5cfff27c2c20e6d19c945, written from its formulas and
    evaluated with ``head``'s parameters (eval mode):

    ``h = GELU(BN(W_i h + b_i))`` for the ``nlayers - 1`` hidden layers
    (BN only with ``use_bn``), the bottleneck ``z = W h + b``, its L2
    normalisation ``z / ||z||``, then the weight-normalised prototypes
    without bias: ``out_k = g_k <v_k / ||v_k||, z / ||z||>``.
    """
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    norms = [m for m in head.mlp if isinstance(m, nn.BatchNorm1d)]
    h = x
    for i, linear in enumerate(linears[:-1]):
        h = h @ linear.weight.T + linear.bias
        if norms:
            bn = norms[i]
            std = torch.sqrt(bn.running_var + bn.eps)
            h = (h - bn.running_mean) / std * bn.weight + bn.bias
        h = F.gelu(h)
    z = h @ linears[-1].weight.T + linears[-1].bias
    z = z / z.norm(dim=-1, keepdim=True)
    weight = head.last_layer.parametrizations.weight
    v, g = weight.original1, weight.original0
    return z @ (g * v / v.norm(dim=1, keepdim=True)).T


@pytest.mark.parametrize('num_layers,use_bn', [(3, True), (3, False),
                                               (1, False)])
def test_forward_follows_dino_head(num_layers, use_bn):
    torch.manual_seed(0)
    head = MSTHead(
        in_channels=12,
        out_channels=20,
        hidden_channels=16,
        bottleneck_channels=8,
        num_layers=num_layers,
        use_bn=use_bn)
    head.init_weights()
    with torch.no_grad():  # make every term of the oracle count
        for m in head.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.)
                m.weight.normal_()
                m.bias.normal_()
            elif isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.normal_(std=0.1)
        head.last_layer_magnitude.uniform_(0.5, 2.)
    head.eval()
    x = torch.randn(5, 12)
    torch.testing.assert_close(head(x), dino_head_oracle(head, x))
    assert len([m for m in head.mlp if isinstance(m, nn.Linear)]) == num_layers


@pytest.mark.parametrize('norm_last_layer', [True, False])
def test_initialisation_follows_dino_head(norm_last_layer):
    """DINOHead's init: truncated normal (std 0.02) linear weights, zero
    biases, weight-norm magnitude 1, frozen with ``norm_last_layer``; the
    output is then a cosine similarity, within [-1, 1]."""
    torch.manual_seed(0)
    head = MSTHead(
        in_channels=64,
        out_channels=50,
        hidden_channels=128,
        bottleneck_channels=32,
        norm_last_layer=norm_last_layer)
    head.init_weights()
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    for linear in linears:
        assert torch.count_nonzero(linear.bias) == 0
    assert linears[1].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.equal(head.last_layer_magnitude,
                       torch.ones_like(head.last_layer_magnitude))
    assert head.last_layer_magnitude.requires_grad is not norm_last_layer
    head.eval()
    out = head(torch.randn(7, 64) * 10)
    assert out.abs().max() <= 1 + 1e-6 and out.abs().max() > 0.05
