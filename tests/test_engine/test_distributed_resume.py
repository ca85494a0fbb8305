"""Resume is exact with several processes and data loader workers: every
rank saves and restores its own random state, and workers are seeded from
the restored generator."""
import os
import os.path as osp
import random
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

import mst_mm  # noqa: F401
from mst_mm.engine import resumable_worker_init_fn
from mst_mm.engine.hooks import RandomStateHook
from mst_mm.engine.hooks.random_state_hook import (META_KEY,
                                                   capture_random_state)


@pytest.fixture(scope='module')
def images(noise_images):
    return noise_images('resume_images', 40)


def test_two_processes_with_workers_resume_exactly(tmp_path, images,
                                                   data_config, dist_train):

    def run(work_dir, *extra, port_offset=0):
        dist_train(
            data_config('mst_tiny.py'),
            work_dir,
            *extra,
            '--cfg-options',
            f'train_dataloader.dataset.data_root={images}',
            # the shipped settings: a seed per rank, workers
            'randomness.diff_rank_seed=True',
            'train_dataloader.num_workers=2',
            port_offset=port_offset)

    full = str(tmp_path / 'full')
    run(full)
    # A run stopped after epoch 2: its work dir as the kill left it.
    stopped = str(tmp_path / 'stopped')
    os.makedirs(stopped)
    shutil.copy(osp.join(full, 'epoch_2.pth'), stopped)
    with open(osp.join(stopped, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(stopped, 'epoch_2.pth'))
    run(stopped, '--resume', port_offset=1)

    expected = _load_checkpoint(osp.join(full, 'epoch_4.pth'))
    resumed = _load_checkpoint(osp.join(stopped, 'epoch_4.pth'))
    assert resumed['meta']['iter'] == expected['meta']['iter'] == 8
    for key, value in expected['state_dict'].items():
        assert torch.equal(resumed['state_dict'][key], value), key
    # Every rank's generators are in the checkpoint, and they differ.
    state = expected['meta'][META_KEY]
    assert state['world_size'] == 2 and len(state['ranks']) == 2
    assert not torch.equal(state['ranks'][0]['torch'],
                           state['ranks'][1]['torch'])


def _runner(world_size=1, rank=0):
    messages = []
    return SimpleNamespace(
        world_size=world_size,
        rank=rank,
        logger=SimpleNamespace(warning=messages.append)), messages


def test_each_rank_restores_its_own_state():
    torch.manual_seed(0)
    states = [capture_random_state()]
    torch.rand(3)
    states.append(capture_random_state())
    checkpoint = dict(meta={META_KEY: dict(world_size=2, ranks=states)})
    for rank in (0, 1):
        runner, messages = _runner(world_size=2, rank=rank)
        RandomStateHook().after_load_checkpoint(runner, checkpoint)
        assert torch.equal(torch.get_rng_state(), states[rank]['torch'])
        assert not messages


def test_saved_by_another_world_size_is_not_restored():
    torch.manual_seed(0)
    saved = capture_random_state()
    torch.manual_seed(1)
    before = torch.get_rng_state()
    runner, messages = _runner(world_size=2, rank=1)
    RandomStateHook().after_load_checkpoint(
        runner, dict(meta={META_KEY: dict(world_size=1, ranks=[saved])}))
    assert torch.equal(torch.get_rng_state(), before)
    assert 'this run has 2' in messages[0]
    # The earlier single-dict format of one process still restores.
    runner, messages = _runner()
    RandomStateHook().after_load_checkpoint(
        runner, dict(meta={META_KEY: dict(saved, world_size=1, rank=0)}))
    assert torch.equal(torch.get_rng_state(), saved['torch'])


class _Draws(torch.utils.data.Dataset):
    """What a worker's augmentation would draw."""

    def __len__(self):
        return 2

    def __getitem__(self, idx):
        return torch.tensor(
            [np.random.rand(),
             random.random(),
             torch.rand(()).item()])


def _epoch(loader):
    return torch.cat(list(loader))


def test_workers_continue_from_the_restored_generator(monkeypatch):
    loader = torch.utils.data.DataLoader(
        _Draws(),
        batch_size=1,
        num_workers=1,
        worker_init_fn=resumable_worker_init_fn)
    torch.manual_seed(0)
    first, second = _epoch(loader), _epoch(loader)
    # Every epoch draws anew (mmengine's default seeds repeat them) ...
    assert not torch.equal(first, second)
    # ... and a run whose main generator was restored draws the same.
    torch.manual_seed(0)
    assert torch.equal(_epoch(loader), first)
    assert torch.equal(_epoch(loader), second)
    # Another rank with the same generator draws differently.
    monkeypatch.setenv('RANK', '1')
    torch.manual_seed(0)
    assert not torch.equal(_epoch(loader), first)
