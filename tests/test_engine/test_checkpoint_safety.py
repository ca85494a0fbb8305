"""What a run saves and loads: never non-finite weights, never weights that
do not fit the model, clear errors for files that are not checkpoints, and
the configured distributed timeout on CPU."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import _load_checkpoint

ITERS_PER_EPOCH = 4  # tiny config: 8 images, batch 2


@HOOKS.register_module(name='MSTTestPoisonHook', force=True)
class PoisonHook(Hook):
    """Makes one weight NaN after the optimizer step of one iteration (the
    loss of that iteration, computed before the step, is finite)."""

    priority = 'HIGHEST'

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter:
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.head.fc.weight[0, 0] = float('nan')


def tiny_run_config(tmp_path, tiny_config, name, **overrides):
    lines = [f'_base_ = [{tiny_config!r}]'
             ] + [f'{key} = {value!r}' for key, value in overrides.items()]
    path = tmp_path / f'{name}.py'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def all_finite(path):
    state_dict = _load_checkpoint(path, map_location='cpu')['state_dict']
    return all(
        bool(torch.isfinite(v).all()) for v in state_dict.values()
        if torch.is_tensor(v) and v.is_floating_point())


# ------------------------------------------------------ non-finite weights
def test_non_finite_weights_are_never_saved(tmp_path, train_tool, tiny_config,
                                            tiny_image_folder,
                                            data_root_options):
    """NaN weights after the last step of epoch 2 with a finite loss: epoch
    2 is not saved, epoch 1 (max_keep_ckpts=1) is not deleted, and the
    message names it."""
    config = tiny_run_config(
        tmp_path,
        tiny_config,
        'poisoned',
        custom_hooks=[
            dict(type='NonFiniteLossHook'),
            dict(type='MSTTestPoisonHook', at_iter=2 * ITERS_PER_EPOCH)
        ],
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, max_keep_ckpts=1)),
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=100))
    work_dir = str(tmp_path / 'work')
    with pytest.raises(FloatingPointError) as error:
        train_tool.main([
            config, '--work-dir', work_dir, '--cfg-options',
            *data_root_options(tiny_image_folder)
        ])
    epoch_1 = osp.join(work_dir, 'epoch_1.pth')
    message = str(error.value)
    assert 'Non-finite weights' in message and 'head.fc.weight' in message
    assert f'last checkpoint with finite weights is {epoch_1}' in message
    assert osp.isfile(epoch_1) and all_finite(epoch_1)
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == epoch_1


def test_huge_learning_rate_never_leaves_a_non_finite_checkpoint(
        tmp_path, train_tool, tiny_config, tiny_image_folder,
        data_root_options):
    """lr 1e-3 in epoch 1, then 1e4: the run diverges in epoch 2. Whatever
    stops it (the loss or the weights check), every checkpoint on disk is
    finite and the message names the last one, epoch 1."""
    config = tiny_run_config(
        tmp_path,
        tiny_config,
        'huge_lr',
        custom_hooks=[dict(type='NonFiniteLossHook')],
        param_scheduler=[
            dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=1e7)
        ],
        train_cfg=dict(by_epoch=True, max_epochs=6, val_interval=100))
    work_dir = str(tmp_path / 'work')
    with pytest.raises(FloatingPointError) as error:
        train_tool.main([
            config, '--work-dir', work_dir, '--cfg-options',
            *data_root_options(tiny_image_folder)
        ])
    saved = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    assert saved == ['epoch_1.pth']
    assert all_finite(osp.join(work_dir, 'epoch_1.pth'))
    assert ('last checkpoint with finite weights is '
            f'{osp.join(work_dir, "epoch_1.pth")}') in str(error.value)


def test_resuming_a_non_finite_checkpoint_is_refused(tmp_path, train_tool,
                                                     tiny_config,
                                                     tiny_image_folder,
                                                     data_root_options):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    model = MODELS.build(Config.fromfile(tiny_config).model)
    state_dict = model.state_dict()
    state_dict['head.fc.bias'][0] = float('inf')
    bad = str(tmp_path / 'diverged.pth')
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1, iter=4)), bad)
    config = tiny_run_config(
        tmp_path,
        tiny_config,
        'guarded',
        custom_hooks=[dict(type='NonFiniteLossHook')])
    with pytest.raises(FloatingPointError, match='diverged.pth: 1 tensors'):
        train_tool.main([
            config, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options', f'load_from={bad}',
            *data_root_options(tiny_image_folder)
        ])


# ------------------------------------------ files that are not checkpoints
def test_files_that_are_not_checkpoints_are_named(tmp_path):
    import mst_mm  # noqa: F401
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=f'{empty}: the file is empty'):
        _load_checkpoint(str(empty))
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n' * 10)
    with pytest.raises(Exception) as error:
        _load_checkpoint(str(text))
    assert str(text) in str(error.value)
    truncated = tmp_path / 'truncated.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(100))), truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(Exception) as error:
        _load_checkpoint(str(truncated))
    assert str(truncated) in str(error.value)


def test_empty_last_checkpoint_is_named(tmp_path, train_tool, tiny_config):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text('')
    with pytest.raises(ValueError, match='last_checkpoint is empty'):
        train_tool.main([tiny_config, '--work-dir', str(work_dir), '--resume'])
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'gone.pth'))
    with pytest.raises(FileNotFoundError, match='gone.pth, which does not'):
        train_tool.main([tiny_config, '--work-dir', str(work_dir), '--resume'])


# -------------------------------------------------- wrong weights, loudly
@pytest.fixture
def other_architecture(tmp_path, tiny_config):
    """A checkpoint of the tiny classifier with 3 classes and no backbone
    norm: a shape mismatch and missing keys."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(tiny_config)
    cfg.model.head.num_classes = 3
    state_dict = MODELS.build(cfg.model).state_dict()
    for key in [k for k in state_dict if k.startswith('backbone.ln1')]:
        del state_dict[key]
    path = str(tmp_path / 'other_arch.pth')
    torch.save(dict(state_dict=state_dict, meta={}), path)
    return path


def test_load_from_another_architecture_fails(other_architecture, tmp_path,
                                              train_tool, tiny_config,
                                              tiny_image_folder,
                                              data_root_options):
    with pytest.raises(ValueError) as error:
        train_tool.main([
            tiny_config, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            f'load_from={other_architecture}',
            *data_root_options(tiny_image_folder)
        ])
    message = str(error.value)
    assert f'{other_architecture} does not fit' in message
    assert '2 of the model' in message and 'backbone.ln1.weight' in message
    assert 'head.fc.weight: file (3, 32) vs model (2, 32)' in message
    assert not osp.exists(tmp_path / 'w' / 'epoch_1.pth')


def test_test_tool_refuses_another_architecture(other_architecture, tmp_path,
                                                test_tool, tiny_config,
                                                tiny_image_folder,
                                                data_root_options):
    with pytest.raises(ValueError, match='other_arch.pth does not fit'):
        test_tool.main([
            tiny_config, other_architecture, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            *data_root_options(tiny_image_folder)
        ])


@pytest.mark.parametrize('tool', ['knn_eval', 'visualize_mst'])
def test_mst_tools_refuse_a_classifier_checkpoint(tool, other_architecture,
                                                  tmp_path, load_tool,
                                                  repo_root):
    mst_config = osp.join(repo_root, 'tests', 'data', 'configs', 'mst_tiny.py')
    args = [mst_config, other_architecture]
    if tool == 'visualize_mst':
        args += ['--which', 'masks', '--out-dir', str(tmp_path / 'pics')]
    with pytest.raises(ValueError) as error:
        load_tool(tool).main(args)
    message = str(error.value)
    assert f'{other_architecture} does not fit the model' in message
    assert 'not in the file (backbone.mask_token' in message, message
    assert not osp.exists(tmp_path / 'pics')


def test_pretrained_init_partial_only_with_prefix(other_architecture,
                                                  tiny_config, monkeypatch):
    from mmengine.config import Config
    from mmengine.model.weight_init import PretrainedInit
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    cfg = Config.fromfile(tiny_config)
    model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='other_arch.pth does not fit'):
        PretrainedInit(checkpoint=other_architecture)(model)
    # With a prefix a partial load is allowed, and counted.
    backbone = model.backbone
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    import mst_mm.utils.checkpoint_coverage as coverage
    logged = []
    monkeypatch.setattr(coverage, 'print_log', lambda msg, **kw: logged.append(
        (msg, kw)))
    init = PretrainedInit(checkpoint=other_architecture, prefix='backbone.')
    init(backbone)
    (message, options), = [m for m in logged if 'Pretrained:' in m[0]]
    total = len(backbone.state_dict())
    assert message.startswith(
        f'Pretrained: loaded {total - 2} of {total} tensors of '
        f'VisionTransformer from {other_architecture}')
    assert '2 keep their initialisation (ln1.weight, ln1.bias)' in message
    assert options['level'] == 30  # a warning: something was not loaded
    after = backbone.state_dict()
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert 'layers.0.attn.qkv.weight' in changed
    assert torch.equal(after['ln1.weight'], before['ln1.weight'])


def test_coverage_summary_counts():
    from mst_mm.utils.checkpoint_coverage import (compare_state_dicts,
                                                  coverage_summary)
    model = dict(a=torch.zeros(2), b=torch.zeros(3), c=torch.zeros(1))
    result = compare_state_dicts(
        model, dict(a=torch.ones(2), b=torch.ones(4), z=torch.ones(1)))
    assert (result['total'], result['loaded']) == (3, 1)
    assert result['missing'] == ['c'] and result['unexpected'] == ['z']
    text = coverage_summary(result, 'ckpt.pth', 'Net', 'backbone.')
    assert text.startswith('Pretrained: loaded 1 of 3 tensors of Net from '
                           "ckpt.pth (keys under 'backbone.')")
    assert '1 keep their initialisation (c)' in text
    assert 'b: file (4,) vs model (3,)' in text


# ----------------------------------------------- distributed timeout (CPU)
STALLED_PEER = textwrap.dedent('''
    import os, sys, time
    import torch.distributed as dist
    from mst_mm.utils.launcher import init_cpu_process_group
    init_cpu_process_group('pytorch', backend='gloo', timeout=3)
    if os.environ['RANK'] == '1':
        time.sleep(float(sys.argv[1]))  # stalled: never joins the barrier
        sys.exit(0)
    try:
        dist.barrier()
    except Exception as err:
        print('RAISED', type(err).__name__, err, flush=True)
        sys.exit(3)
    print('NO ERROR', flush=True)
''')


def test_dist_cfg_timeout_is_honoured_on_cpu(tmp_path, subprocess_env,
                                             free_port):
    script = tmp_path / 'stalled_peer.py'
    script.write_text(STALLED_PEER)
    procs = []
    for rank in (0, 1):
        env = dict(
            subprocess_env,
            RANK=str(rank),
            WORLD_SIZE='2',
            LOCAL_RANK=str(rank),
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(free_port))
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), '300'],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True))
    try:
        # Rank 0 must give up on its own: rank 1 sleeps far longer than
        # this test is allowed to wait.
        out, _ = procs[0].communicate(timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert procs[0].returncode == 3, out
    assert 'RAISED' in out and 'imed out' in out, out


def test_dist_cfg_timeout_must_be_seconds():
    from mst_mm.utils.launcher import init_cpu_process_group
    env = dict(
        RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='1')
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(ValueError, match="timeout='soon'"):
            init_cpu_process_group('pytorch', 'gloo', timeout='soon')
        with pytest.raises(ValueError, match="init_backend='deepspeed'"):
            init_cpu_process_group('pytorch', 'gloo', init_backend='deepspeed')
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
