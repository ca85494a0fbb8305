import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mst_mm.models import SelfDistillationLoss


def reference_eq2(student, teacher, center, tau_s, tau_t, views, batch):
    """Eq. 2 written out term by term, with DINO's centering."""
    s = [student[v * batch:(v + 1) * batch] for v in range(views)]
    t = [teacher[v * batch:(v + 1) * batch] for v in range(2)]
    total, n = 0., 0
    for i in range(2):
        p_t = torch.softmax((t[i] - center) / tau_t, dim=1)
        for j in range(views):
            if j == i:
                continue
            log_p_s = torch.log(torch.softmax(s[j] / tau_s, dim=1))
            total += (-(p_t * log_p_s).sum(dim=1)).mean()
            n += 1
    assert n == 2 * (views - 1)
    return total / n


def test_loss_equals_hand_written_eq2_and_center_update():
    torch.manual_seed(0)
    views, batch, k = 5, 3, 7
    loss_fn = SelfDistillationLoss(
        out_channels=k,
        student_temp=0.1,
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=30,
        center_momentum=0.9)
    center = torch.randn(1, k)
    loss_fn.center.copy_(center)
    student = torch.randn(views * batch, k)
    teacher = torch.randn(2 * batch, k)
    loss = loss_fn(student, teacher, epoch=30)
    expected = reference_eq2(student, teacher, center, 0.1, 0.07, views, batch)
    torch.testing.assert_close(loss, expected)
    # c <- m c + (1 - m) mean(teacher outputs of both global views)
    torch.testing.assert_close(
        loss_fn.center, 0.9 * center + 0.1 * teacher.mean(0, keepdim=True))


def dino_loss_oracle(student,
                     teacher,
                     center,
                     epoch,
                     ncrops,
                     nepochs,
                     warmup_teacher_temp=0.04,
                     teacher_temp=0.07,
                     warmup_teacher_temp_epochs=30,
                     student_temp=0.1,
                     center_momentum=0.9,
                     world_size=1):
    """Upstream oracle: the arithmetic of ``DINOLoss`` (``forward`` and
    ``update_center``) in facebookresearch/dino, ``main_dino.py`` at commit
    cc72fe982d650ff28e974d0f5a7c974fecb56209, written from its formulas:

    - teacher temperature ``schedule[epoch]`` with ``schedule`` =
      ``linspace(warmup, teacher_temp, warmup_epochs)`` followed by
      ``nepochs - warmup_epochs`` times ``teacher_temp``;
    - ``q = softmax((teacher - center) / temp)``, 2 chunks (global views);
      student ``log_softmax(student / student_temp)``, ``ncrops`` chunks;
    - the loss is the mean, over the pairs (teacher chunk i, student chunk
      v) with v != i, of the batch mean of ``sum_k -q * log p``;
    - ``center <- m * center + (1 - m) * sum(teacher) / (N * world_size)``.

    Computed here as a (2, ncrops) matrix of cross-entropies with its
    diagonal left out, unlike both DINO's loop and the hand-written Eq. 2.

    Returns:
        tuple: the loss and the new center.
    """
    schedule = np.concatenate((np.linspace(warmup_teacher_temp, teacher_temp,
                                           warmup_teacher_temp_epochs),
                               np.full(nepochs - warmup_teacher_temp_epochs,
                                       teacher_temp)))
    k = student.shape[1]
    log_p = F.log_softmax(
        student / student_temp, dim=-1).reshape(ncrops, -1, k)
    q = F.softmax(
        (teacher - center) / schedule[epoch], dim=-1).reshape(2, -1, k)
    ce = -torch.einsum('ibk,vbk->ivb', q, log_p).mean(dim=-1)
    other_view = ~torch.eye(2, ncrops, dtype=torch.bool)
    batch_center = teacher.sum(
        dim=0, keepdim=True) / (
            len(teacher) * world_size)
    new_center = center * center_momentum + batch_center * (1 -
                                                            center_momentum)
    return ce[other_view].mean(), new_center


def test_loss_and_center_follow_dino_loss_over_epochs():
    """Several steps of one loss module against DINOLoss's arithmetic:
    the temperature schedule (warm-up, its last epoch, after it), the
    running center carried from step to step, the gradient reaching the
    student only."""
    torch.manual_seed(2)
    ncrops, batch, k, nepochs = 6, 4, 10, 100
    loss_fn = SelfDistillationLoss(out_channels=k)
    center = torch.zeros(1, k)
    for epoch in (0, 7, 29, 30, 99):
        student = torch.randn(ncrops * batch, k, requires_grad=True)
        teacher = torch.randn(2 * batch, k, requires_grad=True)
        loss = loss_fn(student, teacher, epoch=epoch)
        expected, center = dino_loss_oracle(student, teacher.detach(), center,
                                            epoch, ncrops, nepochs)
        torch.testing.assert_close(loss, expected)
        torch.testing.assert_close(loss_fn.center, center)
        grad, teacher_grad = torch.autograd.grad(
            loss, (student, teacher), allow_unused=True)
        expected_grad, = torch.autograd.grad(expected, student)
        torch.testing.assert_close(grad, expected_grad)
        assert teacher_grad is None  # DINO detaches the teacher
    assert center.abs().sum() > 0  # the center moved


def test_loss_uses_the_warm_up_teacher_temperature():
    torch.manual_seed(1)
    loss_fn = SelfDistillationLoss(out_channels=6)
    student, teacher = torch.randn(8, 6), torch.randn(4, 6)
    loss = loss_fn(student, teacher, epoch=0, update_center=False)
    expected = reference_eq2(student, teacher, torch.zeros(1, 6), 0.1, 0.04, 4,
                             2)
    torch.testing.assert_close(loss, expected)
    assert torch.equal(loss_fn.center, torch.zeros(1, 6))


def test_teacher_temperature_schedule():
    loss_fn = SelfDistillationLoss(out_channels=4)
    # 0.04 -> 0.07 linearly over epochs 0..29 (DINO's np.linspace), then 0.07
    assert loss_fn.teacher_temp_at(0) == pytest.approx(0.04)
    assert loss_fn.teacher_temp_at(29) == pytest.approx(0.07)
    assert loss_fn.teacher_temp_at(10) == pytest.approx(0.04 + 0.03 * 10 / 29)
    assert loss_fn.teacher_temp_at(150) == pytest.approx(0.07)


def test_center_is_a_checkpointed_buffer():
    loss_fn = SelfDistillationLoss(out_channels=4)
    assert 'center' in loss_fn.state_dict()


def test_uniform_teacher_gives_ln_k():
    # The collapse signature: a uniform teacher makes the loss ln K when the
    # student is uniform too.
    loss_fn = SelfDistillationLoss(out_channels=16)
    loss = loss_fn(torch.zeros(8, 16), torch.zeros(4, 16), epoch=0)
    assert loss.item() == pytest.approx(math.log(16))


def test_shape_errors():
    loss_fn = SelfDistillationLoss(out_channels=4)
    with pytest.raises(ValueError, match='teacher output of 3 rows'):
        loss_fn(torch.randn(6, 4), torch.randn(3, 4), epoch=0)
    with pytest.raises(ValueError, match='student output of 5 rows'):
        loss_fn(torch.randn(5, 4), torch.randn(4, 4), epoch=0)
