"""Shared fixtures of the test suite.

There is deliberately no ``tests/__init__.py``: the mmsegmentation wheel
installs a top-level package named ``tests`` that would shadow ours, so
helpers are shared as fixtures here rather than imported.
"""
import glob
import importlib.util
import itertools
import os
import os.path as osp
import sys

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # `import mst_mm` without installing the package
    sys.path.insert(0, REPO)

# The tests run on CPU only, in this process and in every subprocess.
os.environ['CUDA_VISIBLE_DEVICES'] = ''

_RUN_IDS = itertools.count()

# The folders of configs/ whose configs are pre-training recipes.
PRETRAIN_FOLDERS = ('pretrain', 'pretrain/ablations', 'pretrain/benchmarks')


def _configs(*folders):
    """Sorted paths of the configs directly in ``configs/<folder>``."""
    return sorted(
        path for folder in folders
        for path in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))


def pytest_generate_tests(metafunc):
    """A test that takes ``pretrain_config`` runs once per config of
    :data:`PRETRAIN_FOLDERS` (its id: the path in the repository)."""
    if 'pretrain_config' in metafunc.fixturenames:
        paths = _configs(*PRETRAIN_FOLDERS)
        metafunc.parametrize(
            'pretrain_config',
            paths,
            ids=[osp.relpath(p, REPO) for p in paths])


@pytest.fixture(scope='session')
def repo_configs():
    """``repo_configs('pretrain', 'pretrain/ablations')``: the sorted paths
    of the configs in those folders of configs/."""
    return _configs


@pytest.fixture(scope='session')
def repo_root():
    """Absolute path of the repository."""
    return REPO


@pytest.fixture(scope='session')
def tiny_config(repo_root):
    """The tiny 2-class ViT classifier config driven through the tools."""
    return osp.join(repo_root, 'tests', 'data', 'configs', 'tiny_vit_2cls.py')


@pytest.fixture(scope='session')
def data_config(repo_root):
    """``data_config('mst_tiny.py')``: the path of a config under
    tests/data/configs."""
    return lambda name: osp.join(repo_root, 'tests', 'data', 'configs', name)


@pytest.fixture(scope='session')
def tiny_mst_cfg():
    """``tiny_mst_cfg(backbone, decoder_channels=(16, 8, 8))``: an MST model
    config around ``backbone`` (a config dict of 32 channels and 8 px
    patches): the global image decoder, a 64-way head and the
    attention-guided masker (2 blocks, p = 0.5)."""

    def make(backbone, decoder_channels=(16, 8, 8)):
        return dict(
            type='MST',
            backbone=backbone,
            neck=dict(
                type='GlobalImageDecoder',
                in_channels=32,
                patch_size=8,
                channels=decoder_channels),
            head=dict(
                type='MSTHead',
                in_channels=32,
                out_channels=64,
                hidden_channels=32,
                bottleneck_channels=16),
            distill_loss=dict(type='SelfDistillationLoss', out_channels=64),
            masker=dict(type='AttentionGuidedMasker', num=2, p=0.5))

    return make


@pytest.fixture(scope='session')
def tiny_image_folder(tmp_path_factory):
    """An image folder with 2 classes x 4 random 32x32 PNGs.

    The classes differ in brightness, so the task is learnable, but nothing
    asserts on accuracy values: only on their presence.
    """
    import cv2
    root = tmp_path_factory.mktemp('tiny_2cls')
    rng = np.random.default_rng(0)
    for label, (low, high) in enumerate(((0, 100), (155, 255))):
        folder = root / f'class_{label}'
        folder.mkdir()
        for i in range(4):
            img = rng.integers(low, high, (32, 32, 3), dtype=np.uint8)
            assert cv2.imwrite(str(folder / f'{i}.png'), img)
    return str(root)


@pytest.fixture(scope='session')
def data_root_options():
    """``--cfg-options`` values pointing all data loaders of the tiny config
    at ``root``; each run also gets its own experiment name so that several
    runners in one process never share a logger or message hub."""

    def options(root):
        return [
            f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader',
                           'test_dataloader')
        ] + [f'experiment_name=tiny_run_{next(_RUN_IDS)}']

    return options


def _load_tool(repo_root, name):
    """``tools/<name>.py`` (``name`` may contain a sub-folder) as a module."""
    path = osp.join(repo_root, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(
        'mst_mm_tools_' + name.replace('/', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool(repo_root):
    """``load_tool('knn_eval')`` or ``load_tool('model_converters/...')``:
    a script under tools/ as a module, to call its ``main([...])``."""
    return lambda name: _load_tool(repo_root, name)


@pytest.fixture(scope='session')
def train_tool(repo_root):
    """``tools/train.py`` as a module: call ``train_tool.main([...])``."""
    return _load_tool(repo_root, 'train')


@pytest.fixture(scope='session')
def test_tool(repo_root):
    """``tools/test.py`` as a module: ``test_tool.main([...])`` returns the
    metrics dict."""
    return _load_tool(repo_root, 'test')


@pytest.fixture(scope='session')
def train_tiny_mst(train_tool, data_config):
    """``train_tiny_mst(work_dir, data_root, name, *extra)``: the tiny MST
    config (tests/data/configs/mst_tiny.py) through tools/train.py on the
    images in ``data_root``, as experiment ``name``; ``extra``: more flags
    or ``--cfg-options`` values."""

    def run(work_dir, data_root, name, *extra):
        train_tool.main([
            data_config('mst_tiny.py'), '--work-dir', work_dir,
            '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'experiment_name={name}', *extra
        ])

    return run


@pytest.fixture(scope='session')
def read_scalars():
    """``read_scalars(work_dir)``: the rows of the one run's
    ``*/vis_data/scalars.json`` under ``work_dir``."""

    def read(work_dir):
        import json
        path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
        with open(path) as f:
            return [json.loads(line) for line in f]

    return read


@pytest.fixture(scope='session')
def read_log():
    """``read_log(work_dir)``: the text of the one run's ``*/*.log`` under
    ``work_dir``."""

    def read(work_dir):
        path, = glob.glob(osp.join(work_dir, '*', '*.log'))
        with open(path) as f:
            return f.read()

    return read


@pytest.fixture(scope='session')
def noise_images(tmp_path_factory):
    """``noise_images(name, size)``: a new folder of 16 uniformly random
    RGB PNGs of ``size`` x ``size`` (seed 1), ``00.png`` to ``15.png``."""

    def make(name, size):
        from PIL import Image
        root = tmp_path_factory.mktemp(name)
        rng = np.random.default_rng(1)
        for i in range(16):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / f'{i:02d}.png')
        return str(root)

    return make


@pytest.fixture
def subprocess_env(repo_root):
    """Environment for subprocesses: this interpreter's venv first on PATH,
    the repository importable, no GPU, no global weights-only opt-out."""
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get(
        'PATH', '')
    env['PYTHONPATH'] = repo_root + (
        os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    env['CUDA_VISIBLE_DEVICES'] = ''
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@pytest.fixture
def free_port():
    """A TCP port nobody listens on right now."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def dist_train(repo_root, subprocess_env, free_port):
    """``dist_train(config, work_dir, *args, port_offset=0, **env)``:
    tools/dist_train.sh CONFIG 2 --work-dir WORK_DIR ARGS, two CPU processes
    on a free port, run from the work dir's parent folder with ``env`` added
    to the environment; asserts that it succeeded and returns the completed
    process."""

    def run(config, work_dir, *args, port_offset=0, **env):
        import subprocess
        proc = subprocess.run([
            'bash',
            osp.join(repo_root, 'tools', 'dist_train.sh'), config, '2',
            '--work-dir', work_dir, *args
        ],
                              cwd=osp.dirname(work_dir),
                              env=dict(
                                  subprocess_env,
                                  PORT=str(free_port + port_offset),
                                  **env),
                              capture_output=True,
                              text=True,
                              timeout=300)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return proc

    return run


@pytest.fixture(scope='session')
def tiny_cityscapes(tmp_path_factory):
    """A Cityscapes layout of 24 val (and 4 train) images of 64 x 32 with
    ``_gtFine_labelTrainIds.png`` maps (train ids 0-18 and 255, what
    cityscapesscripts + mmseg's converter make). Returns the data root."""
    import cv2
    root = tmp_path_factory.mktemp('tiny_cityscapes')
    rng = np.random.default_rng(0)
    for split, count in (('val', 24), ('train', 4)):
        img_dir = root / 'leftImg8bit' / split / 'tinycity'
        seg_dir = root / 'gtFine' / split / 'tinycity'
        img_dir.mkdir(parents=True)
        seg_dir.mkdir(parents=True)
        for i in range(count):
            stem = f'tinycity_000000_{i:06d}'
            img = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
            labels = np.repeat(np.arange(16, dtype=np.uint8) % 19, 4)[None]
            labels = np.repeat((labels + i) % 19, 32, axis=0)
            labels[:4] = 255  # an ignored band, as the ego-vehicle
            assert cv2.imwrite(str(img_dir / f'{stem}_leftImg8bit.png'), img)
            assert cv2.imwrite(
                str(seg_dir / f'{stem}_gtFine_labelTrainIds.png'), labels)
    return str(root)


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory):
    """A COCO layout (``annotations/instances_val2017.json``,
    ``val2017/``) of 4 images of 64 x 64 with one or two box + polygon
    instances each and COCO's 80 category names. Returns the data root."""
    import json

    import cv2
    from mmdet.datasets import CocoDataset
    root = tmp_path_factory.mktemp('tiny_coco')
    (root / 'val2017').mkdir()
    (root / 'annotations').mkdir()
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(4):
        name = f'{i:012d}.jpg'
        img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / 'val2017' / name), img)
        images.append(dict(id=i + 1, file_name=name, height=64, width=64))
        for j in range(1 + i % 2):
            x, y, w, h = 8 + 20 * j, 8 + 4 * i, 24, 20
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i + 1,
                    category_id=1 + (i + j) % 3,
                    bbox=[x, y, w, h],
                    area=w * h,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                    iscrowd=0))
    categories = [
        dict(id=k + 1, name=name)
        for k, name in enumerate(CocoDataset.METAINFO['classes'])
    ]
    with open(root / 'annotations' / 'instances_val2017.json', 'w') as f:
        json.dump(
            dict(
                images=images, annotations=annotations, categories=categories),
            f)
    return str(root)


@pytest.fixture(scope='session')
def random_checkpoint(tmp_path_factory):
    """``random_checkpoint(config)``: build the config's model in its
    toolbox scope with its random initialisation and save it as a runner
    checkpoint (``state_dict``); returns the path."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, init_default_scope

    def make(config):
        cfg = Config.fromfile(config)
        init_default_scope(cfg.default_scope)
        if cfg.default_scope == 'mmdet':
            from mmdet.registry import MODELS
        else:
            from mmseg.registry import MODELS
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            torch.manual_seed(0)
            model = MODELS.build(cfg.model)
            model.init_weights()
        path = tmp_path_factory.mktemp('ckpt') / (
            osp.splitext(osp.basename(config))[0] + '.pth')
        torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
        return str(path)

    return make
