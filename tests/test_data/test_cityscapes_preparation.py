"""The README's Cityscapes preparation: cityscapesscripts (the
`cityscapes` extra) through the converter that the mmseg wheel ships makes
`*_gtFine_labelTrainIds.png` maps (the layout the segmentation configs
read) from the polygon annotations."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip(
    'cityscapesscripts',
    reason='the optional extra: pip install -e ".[cityscapes]"')


def mmseg_cityscapes_converter():
    """Where the README's command finds mmseg's converter (the folder of
    the installed mmseg package, found without importing it)."""
    import importlib.util
    package = importlib.util.find_spec('mmseg').submodule_search_locations[0]
    return osp.join(package, '.mim', 'tools', 'dataset_converters',
                    'cityscapes.py')


def test_converter_makes_train_id_maps(tmp_path, subprocess_env):
    import cv2
    root = tmp_path / 'cityscapes'
    gt_dir = root / 'gtFine' / 'val' / 'tinycity'
    gt_dir.mkdir(parents=True)
    for split in ('train', 'test'):  # the archive has all three splits
        (root / 'gtFine' / split).mkdir()
    stem = 'tinycity_000000_000000'
    polygons = dict(
        imgHeight=16,
        imgWidth=32,
        objects=[
            dict(label='road', polygon=[[0, 8], [31, 8], [31, 15], [0, 15]]),
            dict(label='car', polygon=[[4, 2], [12, 2], [12, 6], [4, 6]]),
        ])
    with open(gt_dir / f'{stem}_gtFine_polygons.json', 'w') as f:
        json.dump(polygons, f)

    proc = subprocess.run([
        sys.executable,
        mmseg_cityscapes_converter(),
        str(root), '--nproc', '1'
    ],
                          env=subprocess_env,
                          capture_output=True,
                          text=True,
                          timeout=120)

    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = cv2.imread(
        str(gt_dir / f'{stem}_gtFine_labelTrainIds.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (16, 32)
    assert labels[12, 16] == 0  # road
    assert labels[4, 8] == 13  # car
    assert labels[0, 31] == 255  # unlabelled: ignored
    assert set(np.unique(labels)) == {0, 13, 255}
    with open(root / 'val.txt') as f:
        assert f.read().split() == [f'tinycity/{stem}']
