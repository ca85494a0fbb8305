"""tools/test.py and tools/dist_test.sh on the downstream configs, shrunk
(tests/data/configs/setr_tiny_cityscapes.py, mask_rcnn_tiny_coco.py) and run
on tiny Cityscapes / COCO layouts: --out in each toolbox's format and
without per-pixel logits, --show-dir with one picture per image in the work
dir, a detector that detects nothing fails loudly, 2 CPU processes with the
recipe's SyncBN heads, and the optimizer's per-parameter lines kept off the
console."""
import glob
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

SEG_TINY = 'tests/data/configs/setr_tiny_cityscapes.py'
DET_TINY = 'tests/data/configs/mask_rcnn_tiny_coco.py'
NUM_SEG_IMAGES = 24
NUM_DET_IMAGES = 4


@HOOKS.register_module(name='MSTTestHeldResultsProbeHook', force=True)
class HeldResultsProbeHook(Hook):
    """After each test iteration, records how many images were seen and the
    pickled size of everything the evaluator's metrics hold so far: what a
    test run keeps in memory for the final evaluation."""

    records = {}

    def __init__(self, key):
        self.key = key
        self.images = 0

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None):
        self.images += len(outputs)
        held = sum(
            len(pickle.dumps(metric.results))
            for metric in runner.test_evaluator.metrics)
        HeldResultsProbeHook.records.setdefault(self.key, []).append(
            (self.images, held))


def seg_options(root, *extra):
    return [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'test_dataloader')
    ] + list(extra)


def det_options(root, *extra):
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.ann_file={root}/annotations/instances_val2017.json'
    ] + list(extra)


@pytest.fixture(scope='module')
def seg_config(repo_root):
    return osp.join(repo_root, SEG_TINY)


@pytest.fixture(scope='module')
def det_config(repo_root):
    return osp.join(repo_root, DET_TINY)


@pytest.fixture(scope='module')
def seg_ckpt(random_checkpoint, seg_config):
    return random_checkpoint(seg_config)


@pytest.fixture(scope='module')
def det_ckpt(random_checkpoint, det_config):
    return random_checkpoint(det_config)


def timestamped_dir(work_dir, name):
    """``<work_dir>/<timestamp>/<name>`` of the only run in work_dir."""
    found = glob.glob(osp.join(work_dir, '*', name))
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------- segmentation
def test_seg_out_writes_prediction_pngs_and_holds_no_logits(
        tmp_path, test_tool, seg_config, seg_ckpt, tiny_cityscapes):
    import cv2
    config = tmp_path / 'probed.py'
    config.write_text(
        f'_base_ = [{seg_config!r}]\n'
        "custom_hooks = [dict(type='MSTTestHeldResultsProbeHook', "
        "key='seg_out')]\n")
    out = str(tmp_path / 'preds')

    metrics = test_tool.main([
        str(config), seg_ckpt, '--work-dir',
        str(tmp_path / 'work'), '--out', out, '--cfg-options',
        *seg_options(tiny_cityscapes)
    ])

    assert 0.0 <= metrics['mIoU'] <= 100.0
    pngs = sorted(glob.glob(osp.join(out, '*.png')))
    assert len(pngs) == NUM_SEG_IMAGES
    assert osp.basename(pngs[0]) == 'tinycity_000000_000000_leftImg8bit.png'
    pred = cv2.imread(pngs[0], cv2.IMREAD_UNCHANGED)
    assert pred.shape == (32, 64) and pred.dtype == np.uint8  # class ids
    assert pred.max() < 19
    # What the run holds: 4 per-class count vectors per image (19 classes),
    # not 19 x H x W float logits (19 * 32 * 64 * 4 B = 155 KiB per image,
    # which made --out need > 100 GB for Cityscapes val).
    records = HeldResultsProbeHook.records['seg_out']
    images, held = records[-1]
    assert images == NUM_SEG_IMAGES
    assert held / images < 4096, held
    # Linear in the number of images with a small constant: the per-image
    # cost does not depend on how many images came before.
    per_image = [(h2 - h1) / (n2 - n1)
                 for (n1, h1), (n2, h2) in zip(records, records[1:])]
    assert max(per_image) < 4096, per_image


def test_seg_out_refuses_a_pickle_name(tmp_path, test_tool, seg_config,
                                       seg_ckpt, tiny_cityscapes):
    with pytest.raises(ValueError, match=r'preds\.pkl.*folder'):
        test_tool.main([
            seg_config, seg_ckpt, '--work-dir',
            str(tmp_path / 'work'), '--out',
            str(tmp_path / 'preds.pkl'), '--cfg-options',
            *seg_options(tiny_cityscapes)
        ])
    assert not osp.exists(tmp_path / 'preds.pkl')


def test_seg_show_dir_draws_every_image_into_the_work_dir(
        tmp_path, test_tool, seg_config, seg_ckpt, tiny_cityscapes,
        monkeypatch):
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    work_dir = str(tmp_path / 'work')

    test_tool.main([
        seg_config, seg_ckpt, '--work-dir', work_dir, '--show-dir', 'vis',
        '--cfg-options', *seg_options(tiny_cityscapes)
    ])

    show_dir = timestamped_dir(work_dir, 'vis')
    drawn = sorted(glob.glob(osp.join(show_dir, '*.png')))
    assert len(drawn) == NUM_SEG_IMAGES
    import cv2
    picture = cv2.imread(drawn[0])
    # SegLocalVisualizer puts ground truth and prediction side by side.
    assert picture.shape == (32, 2 * 64, 3)
    assert list(cwd.iterdir()) == []  # nothing relative to the cwd


# -------------------------------------------------------------- detection
def test_det_out_dumps_rle_results_without_ground_truth(
        tmp_path, test_tool, det_config, det_ckpt, tiny_coco):
    out = str(tmp_path / 'dets.pkl')
    work_dir = str(tmp_path / 'work')
    metrics = test_tool.main([
        det_config, det_ckpt, '--work-dir', work_dir, '--out', out,
        '--show-dir', 'vis', '--cfg-options',
        *det_options(tiny_coco, 'model.test_cfg.rcnn.score_thr=0.0')
    ])

    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert 'coco/segm_mAP' in metrics
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == NUM_DET_IMAGES
    for result in results:
        assert 'gt_instances' not in result
        masks = result['pred_instances']['masks']
        assert len(masks) == 5  # rcnn.max_per_img of the tiny config
        assert isinstance(masks[0], dict) and set(
            masks[0]) == {'size', 'counts'}  # RLE, not a dense boolean array
    drawn = glob.glob(osp.join(timestamped_dir(work_dir, 'vis'), '*.jpg'))
    assert len(drawn) == NUM_DET_IMAGES


def test_det_nothing_detected_exits_non_zero(tmp_path, test_tool, det_config,
                                             det_ckpt, tiny_coco):
    # The randomly initialised detector scores every class about 1/81,
    # under the recipe's score_thr of 0.05: it detects nothing.
    with pytest.raises(SystemExit) as exit_info:
        test_tool.main([
            det_config, det_ckpt, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', *det_options(tiny_coco)
        ])
    message = str(exit_info.value.code)
    assert 'CocoMetric returned no metrics' in message
    assert 'The testing results of the whole dataset is empty' in message
    assert 'score_thr=0.05' in message


def test_det_out_needs_a_pickle_name(tmp_path, test_tool, det_config,
                                     det_ckpt):
    with pytest.raises(ValueError, match=r"--out '.*dets'.*\.pkl"):
        test_tool.main([det_config, det_ckpt, '--out', str(tmp_path / 'dets')])


# ------------------------------------------------------- distributed CPU
def test_dist_test_runs_setr_on_two_cpu_processes(repo_root, tmp_path,
                                                  seg_config, seg_ckpt,
                                                  tiny_cityscapes,
                                                  subprocess_env, free_port):
    """The recipe's SyncBN heads cannot run under DDP on CPU; the launch
    builds them as BN and says so in the log."""
    work_dir = str(tmp_path / 'work')
    env = dict(subprocess_env, PORT=str(free_port), PYTHON=sys.executable)
    proc = subprocess.run([
        'bash',
        osp.join(repo_root, 'tools', 'dist_test.sh'), seg_config, seg_ckpt,
        '2', '--work-dir', work_dir, '--out',
        str(tmp_path / 'preds'), '--cfg-options', *seg_options(tiny_cityscapes)
    ],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert 'mIoU' in output
    # Each process wrote the PNGs of its half of the images.
    assert len(glob.glob(str(tmp_path / 'preds' / '*.png'))) == NUM_SEG_IMAGES
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert logs
    with open(logs[0]) as f:
        log = f.read()
    assert '4 SyncBN norm layer config(s) of the model built as BN' in log
    assert 'model.decode_head.norm_cfg' in log


def test_sync_bn_to_bn_converts_nested_configs():
    from mst_mm.utils import sync_bn_to_bn
    model = dict(
        head=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
        aux=[
            dict(norm_cfg=dict(type='MMSyncBN')),
            dict(norm_cfg=dict(type='LN'))
        ])
    assert sync_bn_to_bn(model) == [
        'model.head.norm_cfg', 'model.aux.0.norm_cfg'
    ]
    assert model['head']['norm_cfg'] == dict(type='BNXd', requires_grad=True)
    assert model['aux'][0]['norm_cfg']['type'] == 'BNXd'
    assert model['aux'][1]['norm_cfg']['type'] == 'LN'


def test_converted_sync_bn_serves_1d_and_2d_inputs():
    """MST's head normalises (B, C) tokens and its decoder (B, C, H, W)
    maps, both with SyncBN in the paper's configs: after the CPU conversion
    both still build and run, with SyncBN's parameter names."""
    import torch
    from mmcv.cnn import build_norm_layer
    from mmengine.registry import init_default_scope

    from mst_mm.utils import sync_bn_to_bn
    init_default_scope('mmpretrain')
    cfg = dict(norm_cfg=dict(type='SyncBN'))
    sync_bn_to_bn(cfg)
    name, bn = build_norm_layer(cfg['norm_cfg'], 8)
    sync_name, _ = build_norm_layer(dict(type='SyncBN'), 8)
    assert name == sync_name
    assert bn(torch.randn(4, 8)).shape == (4, 8)
    assert bn(torch.randn(2, 8, 3, 3)).shape == (2, 8, 3, 3)


# --------------------------------------------------- launcher interpreter
def fake_python(prefix, with_torch=True):
    """A ``prefix/bin/python`` whose ``find_spec('torch')`` check succeeds
    (exit 0) or fails (exit 1)."""
    bin_dir = prefix / 'bin'
    bin_dir.mkdir(parents=True)
    path = bin_dir / 'python'
    path.write_text(f'#!/bin/sh\nexit {0 if with_torch else 1}\n')
    path.chmod(0o755)
    return str(path)


def find_python(repo_root, tmp_path, env):
    """Source tools/find_python.sh in a copy of the repository at
    ``tmp_path/repo``; return (exit status, PY, stderr)."""
    import shutil
    repo = tmp_path / 'repo'
    (repo / 'tools').mkdir(parents=True, exist_ok=True)
    shutil.copy(osp.join(repo_root, 'tools', 'find_python.sh'), repo / 'tools')
    script = (f'REPO={repo}; source {repo}/tools/find_python.sh; '
              'printf %s "$PY"')
    proc = subprocess.run(['bash', '-c', script],
                          env=dict(
                              env, PATH='/usr/bin:/bin', HOME=str(tmp_path)),
                          capture_output=True,
                          text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize('case', ['PYTHON', 'VIRTUAL_ENV', 'repo venv'])
def test_launchers_find_the_project_interpreter(repo_root, tmp_path, case):
    """$PYTHON first, then the active environment, then the set-up's
    .venv, without an activated environment."""
    repo_venv = tmp_path / 'repo' / '.venv'
    env = {}
    if case == 'PYTHON':
        expected = env['PYTHON'] = fake_python(tmp_path / 'custom')
        fake_python(repo_venv)
    elif case == 'VIRTUAL_ENV':
        env['VIRTUAL_ENV'] = str(tmp_path / 'active')
        expected = fake_python(tmp_path / 'active')
        fake_python(repo_venv)
    else:
        expected = fake_python(repo_venv)
    status, found, stderr = find_python(repo_root, tmp_path, env)
    assert (status, found) == (0, expected), stderr


def test_launchers_skip_an_active_environment_without_torch(
        repo_root, tmp_path):
    """A conda base environment without torch does not hide the set-up's
    .venv."""
    fake_python(tmp_path / 'conda_base', with_torch=False)
    expected = fake_python(tmp_path / 'repo' / '.venv')
    status, found, stderr = find_python(
        repo_root, tmp_path, {'CONDA_PREFIX': str(tmp_path / 'conda_base')})
    assert (status, found) == (0, expected), stderr


def test_launchers_name_an_interpreter_without_torch(repo_root, tmp_path):
    env = {
        'PATH': '/usr/bin:/bin',
        'HOME': str(tmp_path),
        'PYTHON': '/bin/false'
    }
    proc = subprocess.run([
        'bash',
        osp.join(repo_root, 'tools', 'dist_test.sh'), 'c.py', 'k.pth', '2'
    ],
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert ('dist_test.sh: no interpreter that can import torch; tried: '
            '/bin/false.') in proc.stderr


# ------------------------------------------------------------ log noise
def test_paramwise_lines_go_to_the_log_file_not_the_console(
        tmp_path, train_tool, tiny_config, tiny_image_folder,
        data_root_options, capfd):
    config = tmp_path / 'paramwise.py'
    config.write_text(
        f'_base_ = [{tiny_config!r}]\n'
        'optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))\n'
        'train_cfg = dict(max_epochs=1)\n')
    work_dir = str(tmp_path / 'work')

    train_tool.main([
        str(config), '--work-dir', work_dir, '--cfg-options',
        *data_root_options(tiny_image_folder)
    ])

    console = capfd.readouterr()
    with open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]) as f:
        log = f.read()
    # The tiny ViT's 5 LayerNorms (2 per block x 2 blocks + the final one),
    # weight and bias: one weight_decay line each.
    assert log.count('paramwise_options -- ') == 5 * 2
    assert 'paramwise_options -- backbone.ln1.weight:weight_decay=0.0' in log
    assert 'paramwise_options' not in console.out + console.err
    assert 'Epoch(train)' in console.out + console.err  # the rest is there


def test_out_never_overwrites_earlier_results(tmp_path, test_tool, seg_config,
                                              seg_ckpt, det_config, det_ckpt):
    earlier = tmp_path / 'preds'
    earlier.mkdir()
    (earlier / 'a_leftImg8bit.png').write_bytes(b'earlier')
    with pytest.raises(FileExistsError, match='already holds 1 entries'):
        test_tool.main([seg_config, seg_ckpt, '--out', str(earlier)])
    pkl = tmp_path / 'dets.pkl'
    pkl.write_bytes(b'earlier')
    with pytest.raises(FileExistsError, match='dets.pkl.*exists'):
        test_tool.main([det_config, det_ckpt, '--out', str(pkl)])
    assert (earlier / 'a_leftImg8bit.png').read_bytes() == b'earlier'
    assert pkl.read_bytes() == b'earlier'


# ------------------------------------------------------------- training
def test_segmentation_fine_tuning_is_reproducible(tmp_path, train_tool,
                                                  seg_config, tiny_cityscapes):
    """The seed the downstream configs set makes two identical runs give
    identical weights (random crops, flips, head initialisation); another
    seed gives others."""
    import torch
    from mmengine.runner.checkpoint import _load_checkpoint

    def run(name, *options):
        work_dir = str(tmp_path / name)
        train_tool.main([
            seg_config, '--work-dir', work_dir, '--no-validate',
            '--cfg-options', *seg_options(tiny_cityscapes), *options
        ])
        return _load_checkpoint(
            osp.join(work_dir, 'iter_2.pth'), map_location='cpu')['state_dict']

    first, second = run('first'), run('second')
    other = run('other_seed', 'randomness.seed=1')
    for key, value in first.items():
        assert torch.equal(second[key], value), key
    key = 'decode_head.conv_seg.weight'
    assert not torch.equal(other[key], first[key])


def test_dist_train_runs_setr_on_two_cpu_processes(tmp_path, seg_config,
                                                   tiny_cityscapes,
                                                   dist_train):
    work_dir = str(tmp_path / 'work')
    dist_train(
        seg_config,
        work_dir,
        '--no-validate',
        '--cfg-options',
        *seg_options(tiny_cityscapes),
        PYTHON=sys.executable)
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    with open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]) as f:
        log = f.read()
    assert 'SyncBN norm layer config(s) of the model built as BN' in log
