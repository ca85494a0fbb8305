"""CachedSampleDataset: the wrapped pipeline's results for the first
``num_cached`` samples, cycled over the wrapped dataset's length."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import mst_mm  # noqa: F401

RANDOM_CROP = dict(type='RandomResizedCrop', scale=16, backend='cv2')


def build(folder, pipeline, **kwargs):
    init_default_scope('mmpretrain')
    return DATASETS.build(
        dict(
            type='CachedSampleDataset',
            dataset=dict(
                type='CustomDataset',
                data_root=folder,
                with_label=False,
                pipeline=[
                    dict(type='LoadImageFromFile'), *pipeline,
                    dict(type='PackInputs')
                ]),
            **kwargs))


def test_cycles_the_pipeline_results_of_the_first_samples(tiny_image_folder):
    cached = build(tiny_image_folder, [], num_cached=3)
    assert len(cached) == len(cached.dataset) == 8
    for idx in range(len(cached)):
        expected = cached.dataset[idx % 3]
        got = cached[idx]
        assert torch.equal(got['inputs'], expected['inputs'])
        assert got['data_samples'].img_path == (
            expected['data_samples'].img_path)
    assert cached[-1]['data_samples'].img_path == (
        cached.dataset[7 % 3]['data_samples'].img_path)
    with pytest.raises(IndexError, match='index 8 out of range'):
        cached[8]


def test_a_random_pipeline_runs_once_per_cached_sample(tiny_image_folder):
    cached = build(tiny_image_folder, [RANDOM_CROP], num_cached=2)
    first = cached[0]['inputs'].clone()
    # The wrapped dataset draws a new crop every time; the cache does not.
    assert not all(
        torch.equal(cached.dataset[0]['inputs'], first) for _ in range(5))
    assert all(torch.equal(cached[i]['inputs'], first) for i in (0, 2, 4, 6))
    assert not torch.equal(cached[1]['inputs'], first)


def test_returns_copies_the_caller_may_modify(tiny_image_folder):
    cached = build(tiny_image_folder, [], num_cached=1)
    sample = cached[0]
    original = sample['inputs'].clone()
    sample['inputs'].zero_()
    sample['data_samples'].set_field(1, 'changed')
    again = cached[1]
    assert torch.equal(again['inputs'], original)
    assert 'changed' not in again['data_samples']


@pytest.mark.parametrize('num_cached', [0, 9, 2.0, True])
def test_refuses_a_bad_number_of_cached_samples(tiny_image_folder, num_cached):
    with pytest.raises(
            ValueError,
            match=(rf'num_cached={num_cached!r}, expected an int from 1 to '
                   r"the wrapped dataset's 8 samples \(CustomDataset\)")):
        build(tiny_image_folder, [], num_cached=num_cached)


def _no_pipeline(results):
    raise AssertionError('the pipeline ran after the cache was built')


def test_the_cache_is_full_before_any_worker_starts(tiny_image_folder):
    """Built in the main process with every sample cached, so the loader's
    workers (copies of it) never run the pipeline, whatever order a
    shuffled sampler asks in."""
    import pickle
    cached = build(tiny_image_folder, [RANDOM_CROP], num_cached=4)
    worker_copy = pickle.loads(pickle.dumps(cached))
    worker_copy.dataset.pipeline = _no_pipeline
    for idx in (7, 2, 5, 0, 3):
        assert torch.equal(worker_copy[idx]['inputs'],
                           cached[idx % 4]['inputs'])
