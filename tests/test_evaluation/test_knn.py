import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mst_mm.evaluation import knn_accuracy, weighted_knn_classify


def brute_force(train, train_labels, queries, num_classes, k, t):
    """Reference: one query at a time, every similarity, Python sorting."""
    train = train / train.norm(dim=1, keepdim=True)
    preds = []
    for q in queries:
        q = q / q.norm()
        sims = [(float(q @ x), int(y)) for x, y in zip(train, train_labels)]
        sims.sort(key=lambda s: -s[0])
        votes = [0.] * num_classes
        for sim, label in sims[:k]:
            votes[label] += float(np.exp(sim / t))
        preds.append(int(np.argmax(votes)))
    return preds


def test_knn_equals_brute_force_reference():
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(300, 16, generator=gen)
    labels = torch.randint(0, 5, (300, ), generator=gen)
    queries = torch.randn(40, 16, generator=gen)
    scores = weighted_knn_classify(
        train,
        labels,
        queries,
        5,
        ks=(1, 10, 20),
        temperature=0.07,
        chunk_size=7)  # chunks that do not divide 40
    for k in (1, 10, 20):
        assert scores[k].argmax(1).tolist() == brute_force(
            train, labels, queries, 5, k, 0.07)


def test_knn_accuracy_top1_top5():
    scores = {3: torch.tensor([[0., 1, 2, 3, 4, 5], [5., 4, 3, 2, 1, 0]])}
    acc = knn_accuracy(scores, torch.tensor([5, 2]))
    assert acc['k3_top1'] == 50. and acc['k3_top5'] == 100.


def test_knn_errors():
    with pytest.raises(ValueError, match='3 training features but 2 labels'):
        weighted_knn_classify(
            torch.randn(3, 4), torch.zeros(2), torch.randn(1, 4), 2)
    with pytest.raises(ValueError, match='dimension 4, queries of 5'):
        weighted_knn_classify(
            torch.randn(3, 4), torch.zeros(3), torch.randn(1, 5), 2)


@pytest.fixture(scope='module')
def labelled_folder(tmp_path_factory):
    """Two colour classes (reddish and bluish textures): separable."""
    root = tmp_path_factory.mktemp('tiny_labelled')
    rng = np.random.default_rng(0)
    for split, n in (('train', 6), ('test', 3)):
        for cls, colour in (('blue', (30, 60, 200)), ('red', (200, 40, 30))):
            os.makedirs(root / split / cls)
            for i in range(n):
                img = np.clip(
                    np.array(colour) + rng.normal(0, 25, (36, 36, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(root / split / cls /
                                                           f'{i}.png')
    return str(root)


@pytest.fixture(scope='module')
def knn_tool(load_tool):
    return load_tool('knn_eval')


@pytest.fixture(scope='module')
def config(data_config):
    return data_config('mst_tiny.py')


def data_options(root):
    return [
        '--cfg-options',
        f'knn_evaluation.train_dataloader.dataset.data_root={root}',
        f'knn_evaluation.val_dataloader.dataset.data_root={root}'
    ]


def test_knn_tool_raw_pixels_and_random_backbone(labelled_folder, tmp_path,
                                                 knn_tool, config):
    out = str(tmp_path / 'raw.json')
    metrics = knn_tool.main([
        config, 'none', '--features', 'raw-pixels', '--out', out,
        *data_options(labelled_folder)
    ])
    assert metrics == {'k1_top1': 100.0, 'k3_top1': 100.0}
    with open(out) as f:
        assert json.load(f)['metrics'] == metrics
    metrics = knn_tool.main([config, 'random', *data_options(labelled_folder)])
    assert set(metrics) == {'k1_top1', 'k3_top1'}


def test_knn_tool_errors(labelled_folder, tmp_path, knn_tool, config):
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        knn_tool.main([
            config,
            str(tmp_path / 'no_such.pth'), *data_options(labelled_folder)
        ])
    # A temperature of 0 is an error, not silently the default 0.07.
    for value in ('0', '-0.1'):
        with pytest.raises(
                ValueError,
                match=f'--temperature={float(value)}: expected '
                'a temperature > 0'):
            knn_tool.main([
                config, 'random', '--temperature', value,
                *data_options(labelled_folder)
            ])
    with pytest.raises(ValueError, match=r'--ks=\[0, 3\]: expected'):
        knn_tool.main([
            config, 'random', '--ks', '0', '3', *data_options(labelled_folder)
        ])
    # The memory bank has 12 images: k=100 cannot be served.
    with pytest.raises(
            ValueError,
            match=r'--ks \[100\]: more neighbours than the 12 '
            'images of the memory bank'):
        knn_tool.main([
            config, 'random', '--ks', '3', '100',
            *data_options(labelled_folder)
        ])


def test_knn_tool_reports_a_clamped_config_k(labelled_folder, tmp_path,
                                             knn_tool, capsys, config):
    out = str(tmp_path / 'clamped.json')
    metrics = knn_tool.main([
        config, 'none', '--features', 'raw-pixels', '--out', out,
        *data_options(labelled_folder), 'knn_evaluation.ks=(1,20)'
    ])
    assert set(metrics) == {'k1_top1', 'k20_top1'}
    with open(out) as f:
        written = json.load(f)
    assert written['bank_size'] == 12
    assert written['effective_k'] == {'k1': 1, 'k20': 12}
    assert ('k=20 is more than the 12 images of the memory bank: all 12 '
            'vote') in capsys.readouterr().out


def test_knn_tool_across_two_processes(labelled_folder, tmp_path, free_port,
                                       config, repo_root, subprocess_env):
    out = str(tmp_path / 'dist.json')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={free_port}',
        osp.join(repo_root, 'tools',
                 'knn_eval.py'), config, 'none', '--features', 'raw-pixels',
        '--launcher', 'pytorch', '--out', out, *data_options(labelled_folder)
    ]
    proc = subprocess.run(
        cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        assert json.load(f)['metrics'] == {'k1_top1': 100.0, 'k3_top1': 100.0}
