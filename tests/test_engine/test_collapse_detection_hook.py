"""CollapseDetectionHook: driven by hand through a message hub, and in real
tiny MST runs through tools/train.py."""
import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn as nn
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mst_mm.engine.hooks import CollapseDetectionHook, TrainingCollapseError

K = 2048
LOG_K = math.log(K)
_HUBS = itertools.count()


class RecordingLogger:

    def __init__(self):
        self.records = []

    def info(self, msg):
        self.records.append(('info', msg))

    def warning(self, msg):
        self.records.append(('warning', msg))

    def warnings(self):
        return [m for level, m in self.records if level == 'warning']


def fake_runner(warmup_epochs=2,
                logger_interval=2,
                max_epochs=10,
                distill_weight=1.0,
                loop=EpochBasedTrainLoop):
    model = nn.Module()
    model.head = nn.Module()
    model.head.last_layer = nn.Linear(8, K, bias=False)
    model.distill_loss = SimpleNamespace(
        warmup_teacher_temp_epochs=warmup_epochs, out_channels=K)
    model.distill_weight = distill_weight
    train_loop = loop.__new__(loop)
    train_loop._max_epochs = max_epochs
    return SimpleNamespace(
        model=model,
        message_hub=MessageHub.get_instance(f'collapse_test_{next(_HUBS)}'),
        logger=RecordingLogger(),
        hooks=[LoggerHook(interval=logger_interval)],
        train_loop=train_loop,
        work_dir='/tmp/work_dir_of_the_run',
        iter=0,
        epoch=0)


def drive(hook,
          runner,
          entropy,
          batch_entropy,
          iters,
          iters_per_epoch=10,
          start=0):
    """Log the two signals (fractions of ln K, a number or a function of
    the iteration) for ``iters`` iterations, calling the hook after each."""
    hook.before_train(runner) if start == 0 else None
    for it in range(start, start + iters):
        runner.iter, runner.epoch = it, it // iters_per_epoch
        for key, value in (('teacher_entropy', entropy),
                           ('teacher_batch_entropy', batch_entropy)):
            value = value(it) if callable(value) else value
            runner.message_hub.update_scalar(f'train/{key}', value * LOG_K)
        hook.after_train_iter(runner, batch_idx=it)


def test_uniform_collapse_warns_once_with_value_and_remedies():
    runner = fake_runner()
    hook = CollapseDetectionHook()
    # Epochs 0-1 are the temperature warm-up: flat there, never checked.
    drive(hook, runner, 0.97, 0.99, iters=20)
    assert hook.num_checks == 0 and runner.logger.warnings() == []
    drive(hook, runner, 0.97, 0.99, iters=40, start=20)
    warning, = runner.logger.warnings()  # once per episode
    assert 'UNIFORM COLLAPSE: teacher_entropy = 7.396 nats = 97.0% of ln K ' \
        '(K = 2048, ln K = 7.62), above the 90% threshold for 3 ' \
        'consecutive checks of 2 iterations (iteration 26, epoch 3)' in \
        warning
    assert 'lower the teacher temperature' in warning
    for remedy in ('lower lr', 'slower teacher EMA', 'larger batch',
                   'center momentum', 'smaller K'):
        assert remedy in warning, remedy
    assert 'stop=True would stop it' in warning
    assert hook.num_checks == 20
    # The interval and the start came from the LoggerHook and the loss.
    info = runner.logger.records[0][1]
    assert 'from epoch 3' in info and 'every 2 iterations' in info


def test_one_dimension_collapse_and_recovery_episodes():
    runner = fake_runner()
    hook = CollapseDetectionHook(patience=2)
    # Epoch 2: healthy; epoch 3: batch entropy at 5% of ln K; epoch 4:
    # healthy again; epoch 5: collapsed again.
    batch = {2: 0.8, 3: 0.05, 4: 0.8, 5: 0.05}
    drive(hook, runner, 0.4, lambda it: batch.get(it // 10, 0.8), iters=60)
    first, second = runner.logger.warnings()
    assert 'ONE-DIMENSION COLLAPSE: teacher_batch_entropy = 0.381 nats = ' \
        '5.0% of ln K' in first and 'below the 10% threshold' in first
    assert 'iteration 34, epoch 4' in first
    assert 'raise the teacher temperature' in first
    assert 'iteration 54, epoch 6' in second
    recovered = [
        m for level, m in runner.logger.records
        if level == 'info' and 'recovered' in m
    ]
    assert len(recovered) == 1 and 'iteration 42' in recovered[0]


def test_checks_average_the_interval_and_need_patience():
    runner = fake_runner(warmup_epochs=0)
    hook = CollapseDetectionHook(interval=4, patience=3)
    # One flat iteration in four: the mean (0.4 * 3 + 0.99) / 4 stays below
    # 0.9 although the logged value crosses it every interval.
    drive(hook, runner, lambda it: 0.99 if it % 4 == 3 else 0.4, 0.8, iters=40)
    assert runner.logger.warnings() == [] and hook.num_checks == 10
    # Two bad checks in a row, then a good one: patience 3 never reached.
    runner = fake_runner(warmup_epochs=0)
    hook = CollapseDetectionHook(interval=4, patience=3)
    drive(
        hook,
        runner,
        lambda it: 0.95 if (it // 4) % 3 != 2 else 0.4,
        0.8,
        iters=48)
    assert runner.logger.warnings() == []


def test_healthy_signals_stay_silent():
    runner = fake_runner(warmup_epochs=0)
    hook = CollapseDetectionHook(interval=1)
    rng = np.random.default_rng(0)
    drive(
        hook,
        runner,
        lambda it: rng.uniform(0.1, 0.85),
        lambda it: rng.uniform(0.15, 1.0),
        iters=200)
    assert hook.num_checks == 200
    assert runner.logger.warnings() == []


def test_stop_raises_the_same_message():
    runner = fake_runner(warmup_epochs=1)
    hook = CollapseDetectionHook(stop=True)
    with pytest.raises(TrainingCollapseError) as error:
        drive(hook, runner, 0.99, 0.99, iters=40)
    message = str(error.value)
    assert message == runner.logger.warnings()[0]
    assert 'teacher_entropy = 7.548 nats = 99.0% of ln K' in message
    assert 'Training stopped' in message and \
        '/tmp/work_dir_of_the_run' in message
    assert runner.iter == 15  # epoch 1 begins at 10: checks at 11, 13, 15


def test_errors():
    runner = fake_runner()
    hook = CollapseDetectionHook(begin_epoch=0)
    hook.before_train(runner)
    runner.iter = 1  # the 2nd iteration, a check of interval 2
    with pytest.raises(
            KeyError,
            match=r"logged no \['teacher_entropy', "
            r"'teacher_batch_entropy'\]"):
        hook.after_train_iter(runner, batch_idx=1)
    no_head = fake_runner()
    del no_head.model.head
    no_head.model.distill_loss = SimpleNamespace()
    with pytest.raises(ValueError, match='cannot find K'):
        CollapseDetectionHook().before_train(no_head)
    with pytest.raises(
            ValueError,
            match='counts epochs, but the train loop '
            'is IterBasedTrainLoop'):
        CollapseDetectionHook().before_train(
            fake_runner(loop=IterBasedTrainLoop))
    for kwargs, match in ((dict(max_entropy_ratio=1.5), 'max_entropy_ratio'),
                          (dict(min_batch_entropy_ratio=-0.1),
                           'min_batch_entropy_ratio'),
                          (dict(patience=0), 'patience=0'), (dict(interval=0),
                                                             'interval=0')):
        with pytest.raises(ValueError, match=match):
            CollapseDetectionHook(**kwargs)


def test_pure_mlm_and_late_start_are_reported():
    runner = fake_runner(distill_weight=0.)
    hook = CollapseDetectionHook()
    drive(hook, runner, 0.99, 0.01, iters=100)
    assert hook.num_checks == 0 and runner.logger.warnings() == []
    assert 'distill_weight = 0' in runner.logger.records[0][1]
    runner = fake_runner(warmup_epochs=30, max_epochs=6)
    CollapseDetectionHook().before_train(runner)
    assert 'nothing will be checked' in runner.logger.warnings()[0]


# ------------------------------------------------------- real tiny runs
@pytest.fixture(scope='module')
def tiny_images(noise_images):
    return noise_images('collapse_images', 36)


def test_real_run_with_a_flat_teacher_stops(tiny_images, tmp_path,
                                            train_tiny_mst, read_log):
    # A teacher temperature of 10 (DINO: 0.04 -> 0.07) flattens the
    # teacher's softmax: uniform collapse by construction.
    hook = 'custom_hooks.5'  # the base config's CollapseDetectionHook
    with pytest.raises(
            TrainingCollapseError,
            match='UNIFORM COLLAPSE: teacher_entropy') as error:
        train_tiny_mst(
            str(tmp_path), tiny_images, 'collapse_real',
            'model.distill_loss.teacher_temp=10.',
            'model.distill_loss.warmup_teacher_temp=10.', f'{hook}.stop=True')
    # Epochs of 4 iterations, checks from epoch 3 (after the 2 warm-up
    # epochs) every iteration (the logger's interval): the 3rd bad check is
    # iteration 11.
    assert 'iteration 11, epoch 3' in str(error.value)
    assert 'of ln K (K = 128, ln K = 4.85)' in str(error.value)
    text = read_log(str(tmp_path))
    assert 'WARNING - CollapseDetectionHook: UNIFORM COLLAPSE' in text
    assert 'Epoch(train) [3][4/4]' not in text  # it stopped within epoch 3


def test_real_healthy_run_is_silent(tiny_images, tmp_path, train_tiny_mst,
                                    read_log):
    train_tiny_mst(str(tmp_path), tiny_images, 'collapse_healthy')
    text = read_log(str(tmp_path))
    # The hook is on by default and checked epochs 3-4 ...
    assert 'CollapseDetectionHook: from epoch 3' in text
    assert 'Epoch(train) [4][4/4]' in text
    # ... without a word.
    assert 'COLLAPSE' not in text


def test_every_pretraining_config_detects_collapse(repo_configs):
    from mmengine.config import Config
    configs = repo_configs('pretrain', 'pretrain/ablations')
    assert len(configs) >= 15
    for path in configs:
        hooks = [
            h for h in Config.fromfile(path).custom_hooks
            if h.type == 'CollapseDetectionHook'
        ]
        assert len(hooks) == 1 and not hooks[0].get('stop', False), path
