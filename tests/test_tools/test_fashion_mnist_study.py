"""tools/fashion_mnist_study.py end to end on a tiny grid: 2 variants x 2
seeds of a 1-layer ViT on a few synthetic IDX images, a few iterations
each; the table, the JSON and the plot are written, and a second call
resumes (trains nothing again)."""
import gzip
import json
import os.path as osp

import numpy as np


def _write_idx(path, array):
    array = np.asarray(array, np.uint8)
    header = (0x800 + array.ndim).to_bytes(4, 'big') + b''.join(
        d.to_bytes(4, 'big') for d in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.tobytes())


def _fake_fashion_mnist(root, per_class):
    """IDX files whose class i is a bright horizontal bar at row 2 * i."""
    rng = np.random.default_rng(0)
    for split, n in (('train', per_class[0]), ('t10k', per_class[1])):
        labels = np.repeat(np.arange(10), n)
        images = rng.integers(0, 40, (len(labels), 28, 28))
        for k, label in enumerate(labels):
            images[k, 2 * label:2 * label + 4, 4:24] = 220
        _write_idx(osp.join(root, f'{split}-images-idx3-ubyte.gz'), images)
        _write_idx(osp.join(root, f'{split}-labels-idx1-ubyte.gz'), labels)


TINY = [
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=20',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'model.backbone.arch.num_layers=1', 'knn_evaluation.ks=[5,10,20]',
    'knn_evaluation.train_dataloader.num_workers=0',
    'knn_evaluation.val_dataloader.num_workers=0',
    'default_hooks.logger.interval=1'
]


def test_study_grid_writes_its_table_and_resumes(load_tool, tmp_path,
                                                 monkeypatch):
    study = load_tool('fashion_mnist_study')
    src = tmp_path / 'idx'
    src.mkdir()
    _fake_fashion_mnist(str(src), per_class=(4, 2))
    work_dir = tmp_path / 'study'
    argv = [
        '--work-dir',
        str(work_dir), '--src',
        str(src), '--variants', 'MST', 'DINO', '--seeds', '0', '1',
        '--train-per-class', '4', '--test-per-class', '2', '--data-dir',
        str(tmp_path / 'images'), '--cfg-options', *TINY
    ]
    summary = study.main(argv)

    assert list(summary) == ['MST', 'DINO', 'random init', 'raw pixels']
    for variant in ('MST', 'DINO', 'random init'):
        for key in ('knn_k10', 'knn_k20', 'linear'):
            mean, std, n = summary[variant][key]
            assert n == 2 and 0 <= mean <= 100 and std >= 0
    for variant in ('MST', 'DINO'):  # collapse signals, as fractions of ln K
        for key in ('teacher_entropy', 'teacher_batch_entropy'):
            mean, _, n = summary[variant][key]
            assert n == 2 and 0 < mean <= 1.0001
    assert summary['raw pixels']['linear'][2] == 1

    table = (work_dir / 'results.md').read_text()
    assert '| MST | 2 |' in table and '| DINO | 2 |' in table
    assert '+-' in table and '| raw pixels | 1 |' in table
    runs = json.loads((work_dir / 'results.json').read_text())['runs']
    assert sorted((r['variant'], r['seed']) for r in runs
                  if r['variant'] in ('MST', 'DINO')) == [('DINO', 0),
                                                          ('DINO', 1),
                                                          ('MST', 0),
                                                          ('MST', 1)]
    # the two seeds really are different runs
    mst = [r for r in runs if r['variant'] == 'MST']
    assert mst[0]['checkpoint'] != mst[1]['checkpoint']
    assert (work_dir / 'results.png').stat().st_size > 1000

    # Resumable: every result is there, so nothing is trained again.
    def no_training(cmd, what):
        if 'tools/train.py' in cmd:
            raise AssertionError(f'trained again: {what}')
        return 0.

    monkeypatch.setattr(study, 'run', no_training)
    assert study.main(argv) == summary
