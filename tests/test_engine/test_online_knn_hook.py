"""OnlineKNNHook: the k-NN top-1 it logs during a tiny MST run equals
tools/knn_eval.py's on the run's checkpoints."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mst_mm.engine.hooks import OnlineKNNHook


@pytest.fixture(scope='module')
def config(data_config):
    return data_config('mst_tiny_online_knn.py')


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    """Unlabelled training images and a labelled k-NN folder of 3 classes
    (train/ and test/, 4 per class)."""
    root = tmp_path_factory.mktemp('online_knn')
    rng = np.random.default_rng(0)
    os.makedirs(root / 'pretrain')
    for i in range(16):
        img = rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / 'pretrain' / f'{i:02d}.png')
    # Close colours under strong noise: partly separable, so the top-1
    # values are neither 0 nor 100 and differ between backbones.
    colours = ((110, 110, 140), (140, 110, 110), (110, 140, 110))
    for split, n in (('train', 4), ('test', 4)):
        for cls, colour in enumerate(colours):
            os.makedirs(root / 'knn' / split / f'c{cls}')
            for i in range(n):
                img = np.clip(
                    np.array(colour) + rng.normal(0, 80, (36, 36, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(
                    root / 'knn' / split / f'c{cls}' / f'{i}.png')
    return str(root / 'pretrain'), str(root / 'knn')


def knn_options(knn_root):
    return [
        f'knn_evaluation.{loader}.dataset.data_root={knn_root}'
        for loader in ('train_dataloader', 'val_dataloader')
    ]


@pytest.fixture(scope='module')
def online_run(folders, tmp_path_factory, train_tool, config):
    pretrain, knn = folders
    work_dir = str(tmp_path_factory.mktemp('online_knn_run'))
    train_tool.main([
        config, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={pretrain}',
        'experiment_name=online_knn_run', *knn_options(knn)
    ])
    return work_dir


def test_logged_top1_equals_knn_eval_on_the_checkpoints(
        online_run, folders, load_tool, config, read_scalars, read_log):
    knn_tool = load_tool('knn_eval')
    rows = [r for r in read_scalars(online_run) if 'knn/top1_k1' in r]
    # Before training (step 0), after epoch 1 (step 4), after epoch 2
    # (step 8): 4 iterations of 4 images per epoch.
    assert [r['step'] for r in rows] == [0, 4, 8]
    # Not a trivial 0 or 100 that any features would give.
    assert any(0 < r['knn/top1_k1'] < 100 for r in rows)
    for row, epoch in zip(rows[1:], (1, 2)):
        metrics = knn_tool.main([
            config,
            osp.join(online_run, f'epoch_{epoch}.pth'), '--cfg-options',
            *knn_options(folders[1])
        ])
        assert set(metrics) == {'k1_top1', 'k3_top1'}  # 3 classes: no top-5
        assert row['knn/top1_k1'] == pytest.approx(metrics['k1_top1'])
        assert row['knn/top1_k3'] == pytest.approx(metrics['k3_top1'])
    text = read_log(online_run)
    assert 'k-NN after epoch 2, teacher backbone (T=0.07, 12 train / 12 ' \
        f'queries): top-1 k=1 {rows[2]["knn/top1_k1"]:.2f}' in text
    assert 'k-NN before training' in text


def test_the_hook_does_not_change_the_training(online_run, folders, tmp_path,
                                               train_tiny_mst, read_scalars):
    # The same run without the hook: the k-NN data loaders draw from the
    # random generators, which the hook restores.
    work_dir = str(tmp_path)
    train_tiny_mst(work_dir, folders[0], 'no_knn_run',
                   'train_cfg.max_epochs=2')
    with_hook = [r['loss'] for r in read_scalars(online_run) if 'loss' in r]
    without = [r['loss'] for r in read_scalars(work_dir) if 'loss' in r]
    assert len(with_hook) == 8 and with_hook == without


def test_two_processes_log_the_single_process_top1(folders, tmp_path,
                                                   load_tool, config,
                                                   read_scalars, dist_train):
    # Every process extracts its share of the k-NN data; the main one
    # gathers and scores, then all log the same numbers.
    pretrain, knn = folders
    work_dir = str(tmp_path / 'dist')
    dist_train(config, work_dir, '--cfg-options',
               f'train_dataloader.dataset.data_root={pretrain}',
               'train_cfg.max_epochs=1', *knn_options(knn))
    row = [r for r in read_scalars(work_dir) if 'knn/top1_k1' in r][-1]
    assert row['step'] == 2  # 16 images, 2 processes x batch 4
    metrics = load_tool('knn_eval').main([
        config,
        osp.join(work_dir, 'epoch_1.pth'), '--cfg-options', *knn_options(knn)
    ])
    assert row['knn/top1_k1'] == pytest.approx(metrics['k1_top1'])
    assert row['knn/top1_k3'] == pytest.approx(metrics['k3_top1'])


def test_errors():
    from types import SimpleNamespace

    from mmengine.config import Config
    with pytest.raises(ValueError, match='interval=0 must be >= 1'):
        OnlineKNNHook(interval=0)
    with pytest.raises(ValueError, match="network='ema'"):
        OnlineKNNHook(network='ema')
    with pytest.raises(KeyError, match='no `knn_evaluation` dict'):
        OnlineKNNHook().before_train(SimpleNamespace(cfg=Config(dict())))
    with pytest.raises(KeyError, match="no 'val_dataloader'"):
        OnlineKNNHook(knn_cfg=dict(train_dataloader=dict())).before_train(
            SimpleNamespace(cfg=Config(dict())))


def test_fashion_mnist_configs_run_it_every_2_epochs(repo_root):
    from mmengine.config import Config
    for name in ('mst', 'dino'):
        cfg = Config.fromfile(
            osp.join(repo_root, 'configs', 'pretrain',
                     f'{name}_vit-tiny-p4_fashion-mnist.py'))
        hook, = [h for h in cfg.custom_hooks if h.type == 'OnlineKNNHook']
        assert hook.interval == 2 and hook.network == 'teacher'
        assert cfg.knn_evaluation.val_dataloader.dataset.data_prefix == 'test'
