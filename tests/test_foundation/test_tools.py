"""tools/train.py, tools/test.py and tools/dist_train.sh on a tiny classifier:
checkpoints, resume (explicit and auto), load_from, Pretrained init from a
full runner checkpoint under torch's weights-only loading, distributed CPU
training, evaluation and error messages."""
import copy
import os
import os.path as osp
import pickle
import shutil

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

ITERS_PER_EPOCH = 4  # 8 images, batch size 2


@HOOKS.register_module(name='MSTTestStateProbeHook', force=True)
class StateProbeHook(Hook):
    """Records the runner's state when the training loop starts, i.e. after
    ``load_from``/resume took effect."""

    records = {}

    def __init__(self, key):
        self.key = key

    def before_train(self, runner):
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        StateProbeHook.records[self.key] = dict(
            iter=runner.iter,
            epoch=runner.epoch,
            optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()),
            lr=[group['lr'] for group in runner.optim_wrapper.param_groups],
            schedulers=[s.state_dict() for s in runner.param_schedulers],
            state_dict={
                k: v.detach().clone()
                for k, v in model.state_dict().items()
            })


def probe_config(tmp_path, tiny_config, key, **overrides):
    """A config file inheriting the tiny config, plus the probe hook and
    ``overrides`` (Python literals)."""
    lines = [
        f'_base_ = [{tiny_config!r}]',
        f"custom_hooks = [dict(type='MSTTestStateProbeHook', key={key!r})]"
    ]
    lines += [f'{name} = {value!r}' for name, value in overrides.items()]
    path = tmp_path / f'probe_{key}.py'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def load_ckpt(path):
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(path, map_location='cpu')


def assert_optimizer_state_equal(actual, expected):
    assert actual['param_groups'] == expected['param_groups']
    assert actual['state'].keys() == expected['state'].keys()
    for idx, state in expected['state'].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                assert torch.equal(actual['state'][idx][name], value), name
            else:
                assert actual['state'][idx][name] == value, name


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory, train_tool, tiny_config, tiny_image_folder,
                data_root_options):
    """Two epochs of the tiny config through tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('train_2ep'))
    train_tool.main([
        tiny_config, '--work-dir', work_dir, '--cfg-options',
        *data_root_options(tiny_image_folder)
    ])
    return work_dir


# --------------------------------------------------------------- training
def test_train_saves_checkpoints(trained_run):
    for epoch in (1, 2):
        assert osp.isfile(osp.join(trained_run, f'epoch_{epoch}.pth'))
    with open(osp.join(trained_run, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(trained_run, 'epoch_2.pth')
    ckpt = load_ckpt(osp.join(trained_run, 'epoch_2.pth'))
    assert ckpt['meta']['epoch'] == 2
    assert ckpt['meta']['iter'] == 2 * ITERS_PER_EPOCH
    assert {'state_dict', 'optimizer', 'param_schedulers',
            'message_hub'} <= set(ckpt)


def test_resume_restores_iteration_optimizer_and_lr(trained_run, tmp_path,
                                                    train_tool, tiny_config,
                                                    tiny_image_folder,
                                                    data_root_options):
    ckpt_path = osp.join(trained_run, 'epoch_1.pth')
    ckpt = load_ckpt(ckpt_path)
    work_dir = str(tmp_path / 'resumed')

    train_tool.main([
        probe_config(tmp_path, tiny_config,
                     'resume'), '--work-dir', work_dir, '--resume', ckpt_path,
        '--cfg-options', *data_root_options(tiny_image_folder)
    ])

    state = StateProbeHook.records['resume']
    assert (state['epoch'], state['iter']) == (1, ITERS_PER_EPOCH)
    assert_optimizer_state_equal(state['optimizer'], ckpt['optimizer'])
    assert state['lr'] == [g['lr'] for g in ckpt['optimizer']['param_groups']]
    assert state['schedulers'] == ckpt['param_schedulers']
    # The lr is mid-schedule, not the initial one: resume did restore it.
    assert state['lr'][0] < 1e-3
    # Training went on from iteration 4 to 8 (not from 0): only epoch 2 was
    # saved, and with the same seed it reproduces the uninterrupted run.
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))
    resumed = load_ckpt(osp.join(work_dir, 'epoch_2.pth'))
    assert resumed['meta']['iter'] == 2 * ITERS_PER_EPOCH
    reference = load_ckpt(osp.join(trained_run, 'epoch_2.pth'))
    for key, value in reference['state_dict'].items():
        torch.testing.assert_close(resumed['state_dict'][key], value)


def test_auto_resume_finds_last_checkpoint(trained_run, tmp_path, train_tool,
                                           tiny_config, tiny_image_folder,
                                           data_root_options):
    # A work dir whose run stopped after epoch 1.
    work_dir = str(tmp_path / 'interrupted')
    os.makedirs(work_dir)
    shutil.copy(osp.join(trained_run, 'epoch_1.pth'), work_dir)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_1.pth'))

    train_tool.main([
        probe_config(tmp_path, tiny_config,
                     'auto_resume'), '--work-dir', work_dir, '--resume',
        '--cfg-options', *data_root_options(tiny_image_folder)
    ])

    state = StateProbeHook.records['auto_resume']
    assert (state['epoch'], state['iter']) == (1, ITERS_PER_EPOCH)
    ckpt = load_ckpt(osp.join(work_dir, 'epoch_1.pth'))
    assert_optimizer_state_equal(state['optimizer'], ckpt['optimizer'])
    assert load_ckpt(osp.join(work_dir, 'epoch_2.pth'))['meta']['iter'] == 8


def test_resume_missing_file_names_it(train_tool, tiny_config, tmp_path):
    missing = str(tmp_path / 'no_such_epoch.pth')
    with pytest.raises(FileNotFoundError, match='no_such_epoch.pth'):
        train_tool.main([tiny_config, '--resume', missing])


def test_load_from_loads_weights_only(trained_run, tmp_path, train_tool,
                                      tiny_config, tiny_image_folder,
                                      data_root_options):
    ckpt_path = osp.join(trained_run, 'epoch_2.pth')
    ckpt = load_ckpt(ckpt_path)

    train_tool.main([
        probe_config(tmp_path, tiny_config, 'load_from',
                     max_epochs=1), '--work-dir',
        str(tmp_path / 'load_from'), '--cfg-options', f'load_from={ckpt_path}',
        'train_cfg.max_epochs=1', *data_root_options(tiny_image_folder)
    ])

    state = StateProbeHook.records['load_from']
    assert state['iter'] == 0  # weights, not the training state
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(state['state_dict'][key], value), key


# --------------------------------------------- checkpoints vs weights-only
def test_runner_checkpoint_needs_the_loader_patch(trained_run, monkeypatch):
    import mst_mm  # noqa: F401  (patches mmengine's CheckpointLoader)
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    path = osp.join(trained_run, 'epoch_2.pth')

    ckpt = load_ckpt(path)  # mmengine's loader: accepted
    assert ckpt['meta']['iter'] == 8
    assert 'message_hub' in ckpt  # holds HistoryBuffer objects

    # A bare torch.load still refuses the non-tensor globals.
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(path)
    # ... and the allow-list did not leak into torch's global list.
    from mmengine.logging.history_buffer import HistoryBuffer
    assert HistoryBuffer not in torch.serialization.get_safe_globals()


def test_pretrained_init_cfg_accepts_a_runner_checkpoint(
        trained_run, tiny_config):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    path = osp.join(trained_run, 'epoch_2.pth')
    reference = load_ckpt(path)['state_dict']
    cfg = Config.fromfile(tiny_config)

    # The whole classifier from the full runner checkpoint ...
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.init_cfg = dict(type='Pretrained', checkpoint=path)
    model = MODELS.build(model_cfg)
    model.init_weights()
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key

    # ... and its backbone alone, picked out by prefix.
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg.init_cfg = dict(
        type='Pretrained', checkpoint=path, prefix='backbone.')
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, reference[f'backbone.{key}']), key


# ---------------------------------------------------------- distributed
def test_dist_train_two_cpu_processes(tmp_path, tiny_config, tiny_image_folder,
                                      data_root_options, dist_train):
    work_dir = str(tmp_path / 'dist')
    dist_train(tiny_config, work_dir, '--cfg-options',
               *data_root_options(tiny_image_folder))
    ckpt = load_ckpt(osp.join(work_dir, 'epoch_2.pth'))
    # 8 images shared by 2 processes x batch 2: 2 iterations per epoch (one
    # process alone would have run 4).
    assert ckpt['meta']['iter'] == 2 * 2


# ------------------------------------------------------------- testing
def test_test_tool_reports_accuracy_and_dumps_predictions(
        trained_run, tmp_path, test_tool, tiny_config, tiny_image_folder,
        data_root_options):
    out = str(tmp_path / 'preds.pkl')
    metrics = test_tool.main([
        tiny_config,
        osp.join(trained_run, 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out, '--cfg-options',
        *data_root_options(tiny_image_folder)
    ])

    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 8
    assert {'pred_label', 'gt_label'} <= set(predictions[0])


# -------------------------------------------------------------- errors
def test_unknown_component_is_named(tmp_path, train_tool, tiny_config,
                                    tiny_image_folder, data_root_options):
    config = tmp_path / 'unknown_backbone.py'
    config.write_text(f'_base_ = [{tiny_config!r}]\n'
                      "model = dict(backbone=dict(type='NoSuchBackbone'))\n")
    with pytest.raises(Exception) as error:
        train_tool.main([
            str(config), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            *data_root_options(tiny_image_folder)
        ])
    assert 'NoSuchBackbone' in str(error.value)


def test_missing_data_root_is_named(tmp_path, train_tool, tiny_config,
                                    data_root_options):
    missing = str(tmp_path / 'no_such_dataset')
    with pytest.raises(Exception) as error:
        train_tool.main([
            tiny_config, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            *data_root_options(missing)
        ])
    assert 'no_such_dataset' in str(error.value)


def test_test_tool_show_dir_draws_into_the_work_dir(trained_run, tmp_path,
                                                    test_tool, tiny_config,
                                                    tiny_image_folder,
                                                    data_root_options,
                                                    monkeypatch):
    """mmpretrain configs: every test image drawn (not every 5000th) into
    <work_dir>/<timestamp>/<show_dir>, nothing in the current directory."""
    import glob
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    work_dir = str(tmp_path / 'test')
    test_tool.main([
        tiny_config,
        osp.join(trained_run,
                 'epoch_2.pth'), '--work-dir', work_dir, '--show-dir', 'vis',
        '--cfg-options', *data_root_options(tiny_image_folder)
    ])
    drawn = glob.glob(osp.join(work_dir, '*', 'vis', '*.png'))
    # mmpretrain names a picture after the image's file name: the two class
    # folders' 0.png .. 3.png give 4 names for the 8 images.
    assert sorted(osp.basename(p)
                  for p in drawn) == [f'{i}.png_0.png' for i in range(4)]
    assert list(cwd.iterdir()) == []
