"""MST end to end through tools/train.py on a tiny ViT and tiny images."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from PIL import Image

LOGGED = ('loss', 'loss_distill', 'loss_restore', 'mask_ratio', 'teacher_temp',
          'ema_momentum', 'teacher_entropy', 'teacher_batch_entropy',
          'distill_kl', 'lr', 'weight_decay')


@pytest.fixture(scope='module')
def tiny_images(tmp_path_factory):
    """16 small textured images (stripes and blobs of random colours)."""
    root = tmp_path_factory.mktemp('tiny_images')
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40]
    for i in range(16):
        freq = rng.uniform(0.1, 0.6)
        base = np.sin(freq * (xx if i % 2 else yy))[..., None]
        colour = rng.uniform(0, 255, size=3)
        img = (127 + 100 * base) * 0.5 + colour * 0.5
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(root / f'{i:02d}.png')
    return str(root)


@pytest.fixture(scope='module')
def uninterrupted(tiny_images, tmp_path_factory, train_tiny_mst):
    work_dir = str(tmp_path_factory.mktemp('mst_full'))
    train_tiny_mst(work_dir, tiny_images, 'mst_full')
    return work_dir


def test_training_logs_every_item_and_lowers_the_loss(uninterrupted,
                                                      read_scalars):
    rows = [r for r in read_scalars(uninterrupted) if 'loss' in r]
    assert len(rows) == 16  # 4 epochs x 4 iterations, logged every one
    for key in LOGGED:
        assert all(key in r and np.isfinite(r[key]) for r in rows), key
    # The restoration loss falls. The distillation cross-entropy itself
    # rises early in DINO-style training (the centering and the temperature
    # warm-up raise the teacher's entropy), so what must fall is its part
    # that the student controls: CE - H(teacher) = KL(teacher || student).

    def mean(key, part):
        return np.mean([key(r) for r in part])

    assert mean(lambda r: r['loss_restore'],
                rows[-4:]) < mean(lambda r: r['loss_restore'], rows[:4])

    def kl(r):
        return r['distill_kl']

    assert mean(kl, rows[-4:]) < mean(kl, rows[:4])
    # Schedules: teacher temperature 0.04 -> 0.07 over the 2 warm-up
    # epochs, EMA momentum rising towards 1, weight decay rising from 0.04.
    assert rows[0]['teacher_temp'] == pytest.approx(0.04)
    assert rows[-1]['teacher_temp'] == pytest.approx(0.07)
    assert rows[0]['ema_momentum'] == pytest.approx(0.996, abs=1e-4)
    assert rows[-1]['ema_momentum'] > rows[0]['ema_momentum']
    assert rows[0]['weight_decay'] == pytest.approx(0.04, abs=1e-3)
    assert rows[-1]['weight_decay'] > 0.3
    # 16 tokens, num=2, p=0.5: about a quarter of the tokens masked.
    assert 0.1 < np.mean([r['mask_ratio'] for r in rows]) < 0.4


def test_the_log_has_no_per_parameter_lines(uninterrupted, read_log):
    """The frozen teacher never reaches the optimizer constructor: one
    summary line instead of one warning per teacher parameter."""
    text = read_log(uninterrupted)
    assert 'is skipped since its requires_grad' not in text
    assert text.count('teacher has no trainable parameter') == 1


def test_last_layer_is_frozen_during_the_first_epoch(uninterrupted):
    init = _load_checkpoint(osp.join(uninterrupted, 'epoch_1.pth'))
    later = _load_checkpoint(osp.join(uninterrupted, 'epoch_2.pth'))
    key = 'head.last_layer.parametrizations.weight.original1'
    # Epoch 1 (index 0) leaves it at its initial value, which the teacher
    # copied at the first EMA step; epoch 2 trains it.
    torch.testing.assert_close(init['state_dict'][key],
                               init['state_dict']['teacher.module.' + key])
    assert not torch.equal(init['state_dict'][key], later['state_dict'][key])
    other = 'head.mlp.0.weight'
    assert not torch.equal(init['state_dict'][other],
                           init['state_dict']['teacher.module.' + other])


def test_resume_matches_the_uninterrupted_run(uninterrupted, tiny_images,
                                              tmp_path, train_tiny_mst,
                                              read_scalars):
    work_dir = str(tmp_path)
    train_tiny_mst(work_dir, tiny_images, 'mst_resumed', '--resume',
                   osp.join(uninterrupted, 'epoch_2.pth'))
    full = _load_checkpoint(osp.join(uninterrupted, 'epoch_4.pth'))
    resumed = _load_checkpoint(osp.join(work_dir, 'epoch_4.pth'))
    assert resumed['meta']['epoch'] == 4 and resumed['meta']['iter'] == 16
    # Teacher, center, EMA step count and student all continue exactly.
    for key in ('distill_loss.center', 'teacher.steps',
                'teacher.module.backbone.cls_token', 'backbone.mask_token',
                'head.mlp.0.weight', 'neck.out_conv.weight'):
        torch.testing.assert_close(resumed['state_dict'][key],
                                   full['state_dict'][key])
    for key in full['state_dict']:
        torch.testing.assert_close(
            resumed['state_dict'][key], full['state_dict'][key], msg=key)
    # Learning rate and weight decay schedules continue too.
    for a, b in zip(resumed['optimizer']['param_groups'],
                    full['optimizer']['param_groups']):
        assert a['lr'] == pytest.approx(b['lr'])
        assert a['weight_decay'] == pytest.approx(b['weight_decay'])
    logged_full = [r for r in read_scalars(uninterrupted) if 'loss' in r][-8:]
    logged_resumed = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert [r['loss'] for r in logged_resumed
            ] == pytest.approx([r['loss'] for r in logged_full], rel=1e-5)


def test_iteration_based_loop_is_refused(tiny_images, tmp_path, train_tool,
                                         data_config):
    # Epoch-counted schedules (last-layer freeze, teacher temperature) would
    # silently never advance in an iteration-based loop.
    config = tmp_path / 'iter_based.py'
    config.write_text(
        f"_base_ = {data_config('mst_tiny.py')!r}\n"
        "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', "
        "max_iters=2)\n"
        "param_scheduler = []\n")
    with pytest.raises(
            ValueError,
            match=r'FreezeLastLayerHook\(freeze_epoch'
            r's=1\) counts epochs, but the train loop is '
            'IterBasedTrainLoop'):
        train_tool.main([
            str(config), '--work-dir',
            str(tmp_path), '--cfg-options',
            f'train_dataloader.dataset.data_root={tiny_images}',
            'experiment_name=mst_iter_based'
        ])


def test_training_on_the_fast_input_path(tiny_images, tmp_path, train_tool,
                                         data_config, read_scalars):
    """The device-side augmentation (MultiCropDataPreprocessor) in a real
    run: every logged loss is finite, and a resumed run draws the same
    augmentation (the RNG state is in the checkpoint) and ends exactly like
    the uninterrupted one."""

    def train(work_dir, *extra):
        train_tool.main([
            data_config('mst_tiny_fast_augment.py'), '--work-dir', work_dir,
            '--cfg-options',
            f'train_dataloader.dataset.data_root={tiny_images}',
            'train_cfg.max_epochs=2', *extra
        ])

    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    train(full)
    rows = [r for r in read_scalars(full) if 'loss' in r]
    assert len(rows) == 8
    for key in ('loss', 'loss_distill', 'loss_restore'):
        assert all(np.isfinite(r[key]) for r in rows), key
    train(resumed, '--resume', osp.join(full, 'epoch_1.pth'))
    a = _load_checkpoint(osp.join(full, 'epoch_2.pth'))['state_dict']
    b = _load_checkpoint(osp.join(resumed, 'epoch_2.pth'))['state_dict']
    for key in a:
        torch.testing.assert_close(b[key], a[key], msg=key)
    assert [r['loss'] for r in read_scalars(resumed)
            if 'loss' in r] == pytest.approx([r['loss'] for r in rows[-4:]],
                                             rel=1e-5)
