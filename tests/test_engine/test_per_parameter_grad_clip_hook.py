"""Per-parameter gradient clipping (DINO's ``clip_gradients``): the
function, its registration on an optimizer, and the hook."""
from types import SimpleNamespace

import pytest
import torch

from mst_mm.engine import (PerParameterGradClipHook, clip_grad_per_parameter,
                           register_per_parameter_clipping)


def test_each_gradient_is_clipped_on_its_own():
    big = torch.nn.Parameter(torch.zeros(4))
    small = torch.nn.Parameter(torch.zeros(2))
    unused = torch.nn.Parameter(torch.zeros(3))
    big.grad = torch.tensor([3., 4., 0., 0.])  # norm 5
    small.grad = torch.tensor([0.6, 0.8])  # norm 1
    clip_grad_per_parameter([big, small, unused], 2.)
    assert big.grad.norm().item() == pytest.approx(2., rel=1e-5)
    assert torch.allclose(big.grad, torch.tensor([1.2, 1.6, 0., 0.]))
    assert small.grad.tolist() == pytest.approx([0.6, 0.8])
    assert unused.grad is None

    # Registered on an optimizer: SGD with lr 1 moves by the clipped grad.
    optimizer = torch.optim.SGD([big, small], lr=1.)
    handle = register_per_parameter_clipping(optimizer, 1.)
    big.grad = torch.tensor([0., 0., 6., 8.])
    small.grad = torch.tensor([0.3, 0.4])
    optimizer.step()
    assert big.tolist() == pytest.approx([0., 0., -0.6, -0.8], rel=1e-5)
    assert small.tolist() == pytest.approx([-0.3, -0.4])
    handle.remove()
    big.grad = torch.tensor([0., 0., 6., 8.])
    optimizer.step()  # no clipping any more
    assert big.tolist()[2:] == pytest.approx([-6.6, -8.8], rel=1e-5)

    with pytest.raises(ValueError, match='max_norm=0 must be > 0'):
        register_per_parameter_clipping(optimizer, 0)


def test_hook_clips_during_training_only():
    """The hook registers the same clipping on the runner's optimizer in
    before_train and removes it in after_train."""
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=1.)
    runner = SimpleNamespace(
        optim_wrapper=SimpleNamespace(optimizer=optimizer))
    hook = PerParameterGradClipHook(max_norm=0.5)
    hook.before_train(runner)
    param.grad = torch.tensor([3., 4.])
    optimizer.step()
    assert param.tolist() == pytest.approx([-0.3, -0.4], rel=1e-5)
    hook.after_train(runner)
    param.grad = torch.tensor([3., 4.])
    optimizer.step()
    assert param.tolist() == pytest.approx([-3.3, -4.4], rel=1e-5)
    with pytest.raises(ValueError, match='max_norm=-1 must be > 0'):
        PerParameterGradClipHook(-1)


@pytest.mark.parametrize('scaler_kind', ['dynamic', 'none'])
def test_fused_adamw_under_a_grad_scaler_is_clipped_like_plain_adamw(
        scaler_kind):
    """Fused AdamW unscales inside its kernel, so under a GradScaler (what
    AmpOptimWrapper builds, bf16 included) the pre-hook sees gradients
    2**16 times too large; the clipping must follow the scale and give the
    plain optimizer's update."""
    from torch.amp import GradScaler
    updates, seen = {}, {}
    for fused in (False, True):
        torch.manual_seed(0)
        param = torch.nn.Parameter(torch.randn(4, 4))
        start = param.detach().clone()
        # eps = 1 makes the update depend on the gradient's size (Adam's
        # first step is lr * sign(g) otherwise, whatever the clipping did).
        optimizer = torch.optim.AdamW([param], lr=0.1, eps=1., fused=fused)
        register_per_parameter_clipping(optimizer, 0.5)

        def record(optimizer, args, kwargs, fused=fused, param=param):
            # (runs after the clipping hook: what it left behind)
            seen[fused] = param.grad.norm().item()

        optimizer.register_step_pre_hook(record)
        loss = (3 * param**2).sum()  # gradient norm ~ 25, clipped to 0.5
        if scaler_kind == 'dynamic':
            scaler = GradScaler('cpu', init_scale=2.**16)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
        else:
            loss.backward()
            optimizer.step()
        updates[fused] = param.detach() - start
    torch.testing.assert_close(updates[True], updates[False])
    assert updates[False].abs().max() > 1e-3  # a real, clipped update
    scale = 2.**16 if scaler_kind == 'dynamic' else 1.
    assert seen[False] == pytest.approx(0.5, rel=1e-4)
    assert seen[True] == pytest.approx(0.5 * scale, rel=1e-4)
