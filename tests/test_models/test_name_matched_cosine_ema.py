import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from mst_mm.models import NameMatchedCosineEMA


class Teacher(nn.Module):

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)


class Student(nn.Module):
    """The teacher's tensors plus student-only ones, declared first so that
    positional matching (zip) would pair the wrong tensors."""

    def __init__(self):
        super().__init__()
        self.mask_token = nn.Parameter(torch.randn(3))
        self.extra_bn = nn.BatchNorm1d(3)
        self.proj = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)


@pytest.fixture
def hub():
    hub = MessageHub.get_instance('test_ema')
    hub.update_info('max_iters', 100)
    return hub


def test_ema_matches_parameters_and_buffers_by_name(hub):
    torch.manual_seed(0)
    teacher, student = Teacher(), Student()
    student.extra_bn.running_mean.fill_(7.)
    student.bn.running_mean.fill_(3.)
    ema = NameMatchedCosineEMA(teacher, momentum=0.004, end_momentum=0.)
    ema.update_parameters(student)  # step 0 copies
    torch.testing.assert_close(ema.module.proj.weight, student.proj.weight)
    assert torch.equal(ema.module.bn.running_mean, torch.full((3, ), 3.))

    before_teacher = ema.module.proj.weight.detach().clone()
    before_student = {
        k: v.detach().clone()
        for k, v in student.state_dict().items()
    }
    with torch.no_grad():
        student.proj.weight.add_(1.)
    ema.update_parameters(student)  # step 1: cosine momentum at step 1
    m = ema.momentum_at(1)
    assert m == pytest.approx(
        0.004 * (1 + torch.cos(torch.tensor(torch.pi / 100))).item() / 2)
    torch.testing.assert_close(ema.module.proj.weight,
                               (1 - m) * before_teacher +
                               m * student.proj.weight)
    # lambda of Eq. 1 is 1 - m: DINO's 0.996 at the start.
    assert ema.teacher_momentum == pytest.approx(1 - m)
    # The student is never written, its own tensors stay as they were.
    for k, v in student.state_dict().items():
        expected = before_student[k]
        if k == 'proj.weight':
            expected = expected + 1.
        torch.testing.assert_close(v, expected)


def test_ema_reports_missing_student_tensors(hub):
    ema = NameMatchedCosineEMA(Student())
    with pytest.raises(KeyError, match="'mask_token'"):
        ema.update_parameters(Teacher())


def test_ema_reaches_momentum_one_at_the_end(hub):
    ema = NameMatchedCosineEMA(Teacher(), momentum=0.004, end_momentum=0.)
    assert ema.momentum_at(0) == pytest.approx(0.004)
    assert ema.momentum_at(100) == pytest.approx(0.)


def test_ema_explains_a_missing_run_length():
    hub = MessageHub.get_instance('test_ema_no_max_iters')
    ema = NameMatchedCosineEMA(Teacher())
    ema.update_parameters(Teacher())
    assert MessageHub.get_current_instance() is hub  # the newest instance
    with pytest.raises(
            RuntimeError, match="no 'max_iters' in the "
            'MessageHub'):
        ema.update_parameters(Teacher())
