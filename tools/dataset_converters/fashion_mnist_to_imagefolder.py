#!/usr/bin/env python
"""Convert Fashion-MNIST's IDX files into an image folder.

The output is what mmpretrain's ``CustomDataset`` reads with
``data_prefix='train'`` or ``data_prefix='test'``::

    <out>/train/0_t-shirt_top/00001.png
    <out>/train/9_ankle_boot/00000.png
    ...
    <out>/test/<class>/<index>.png
    <out>/.complete.json

Each PNG is the 28 x 28 grey image, unchanged; ``LoadImageFromFile`` loads it
as 3 channels. ``<index>`` is the image's position in its IDX file,
zero-padded so that the files sort in file order. ``CustomDataset`` numbers
the classes by sorting the folder names, so the folders carry the label as a
prefix and class ``i`` of the dataset is label ``i`` of Fashion-MNIST.

The IDX files are read with mmpretrain's reader (``.gz`` or not) and
checked before anything is written: the kind of each file (3-D images, 1-D
labels), equal image and label counts, labels in 0..9; a file the reader
rejects (wrong magic number, truncated, trailing bytes) is named in the
error. A folder that is not empty is never overwritten without ``--force``;
a folder this script completed with the same sources and options
(``.complete.json``) is left as it is.

Examples::

    # everything (70k PNGs)
    python tools/dataset_converters/fashion_mnist_to_imagefolder.py
    # the quick demo's subset: 500 training images per class
    python tools/dataset_converters/fashion_mnist_to_imagefolder.py \\
        --max-per-class-train 500 --max-per-class-test 100
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time
import warnings
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.utils import ProgressBar
from mmpretrain.datasets import FashionMNIST
from mmpretrain.datasets.mnist import read_sn3_pascalvincent_tensor
from PIL import Image

DEFAULT_SRC = '/usr/share/datasets/fashion-mnist'
DEFAULT_OUT = 'data/fashion_mnist'
MARKER = '.complete.json'
MARKER_VERSION = 1

# mmpretrain's Fashion-MNIST class names in label order, as folder names;
# the numeric prefix keeps that order under sorting ('0_t-shirt_top').
CLASSES = tuple(f'{i}_' + name.lower().replace('/', '_').replace(' ', '_')
                for i, name in enumerate(FashionMNIST.METAINFO['classes']))
# split -> the distribution's gzipped (images, labels) file names.
SPLITS = {
    'train': [name for name, _ in FashionMNIST.train_list],
    'test': [name for name, _ in FashionMNIST.test_list]
}
# kind -> (position in SPLITS, dimensions, IDX magic number)
KINDS = dict(images=(0, 3, 2051), labels=(1, 1, 2049))


class IDXError(ValueError):
    """An IDX file does not hold what Fashion-MNIST's layout promises."""


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}: expected one of '
                         f'{sorted(SPLITS)}')
    return split


def find_idx_file(src: str, split: str, kind: str) -> str:
    """Path of the split's ``'images'`` or ``'labels'`` file in ``src``,
    gzipped or not."""
    gz_name = SPLITS[check_split(split)][KINDS[kind][0]]
    name = gz_name[:-len('.gz')]
    for candidate in (name, gz_name):
        path = osp.join(src, candidate)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'{split} split: neither {name} nor {gz_name} '
                            f'exists in {src!r}')


def read_idx(path: str, kind: str) -> np.ndarray:
    """The ``'images'`` (N, rows, cols) or ``'labels'`` (N, ) uint8 array
    of an IDX file, read by mmpretrain's
    ``read_sn3_pascalvincent_tensor``."""
    _, ndim, magic = KINDS[kind]
    try:
        with warnings.catch_warnings():  # it wraps a read-only buffer
            warnings.filterwarnings('ignore', 'The given NumPy array')
            array = read_sn3_pascalvincent_tensor(path).numpy()
    except (AssertionError, EOFError, KeyError, OSError, RuntimeError,
            ValueError) as e:
        # The reader checks with bare asserts; only I/O errors say more.
        io_error = isinstance(e, (EOFError, OSError))
        why = f'{type(e).__name__}: {e}' if io_error else (
            f'{osp.getsize(path)} bytes')
        raise IDXError(
            f'{path}: not a readable IDX {kind} file ({why}); expected '
            f'magic number {magic} and the size its header promises (is it '
            'corrupt, truncated, or another file?)') from None
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise IDXError(f'{path}: holds a {array.ndim}-D {array.dtype} array, '
                       f'expected {kind}: {ndim}-D unsigned bytes (IDX '
                       f'magic number {magic})')
    return array


def load_split(src: str, split: str):
    """Read and check one split.

    Returns:
        tuple: images (N, 28, 28) uint8, labels (N,) uint8 in 0..9, and the
        two file paths.
    """
    images_path = find_idx_file(src, split, 'images')
    labels_path = find_idx_file(src, split, 'labels')
    images = read_idx(images_path, 'images')
    labels = read_idx(labels_path, 'labels')
    if len(images) != len(labels):
        raise IDXError(f'{split} split: {images_path} holds {len(images)} '
                       f'images but {labels_path} holds {len(labels)} '
                       'labels; expected equal counts')
    bad = np.flatnonzero(labels >= len(CLASSES))
    if bad.size:
        raise IDXError(
            f'{labels_path}: mislabelled, label {int(labels[bad[0]])} at '
            f'index {int(bad[0])} ({bad.size} such labels); expected 0..'
            f'{len(CLASSES) - 1}')
    return images, labels, images_path, labels_path


def first_per_class(labels: np.ndarray,
                    max_per_class: Optional[int]) -> np.ndarray:
    """Indices of the first ``max_per_class`` images of each class, in file
    order (all of them when None)."""
    if max_per_class is None:
        return np.arange(len(labels))
    keep = np.zeros(len(labels), dtype=bool)
    for c in range(len(CLASSES)):
        keep[np.flatnonzero(labels == c)[:max_per_class]] = True
    return np.flatnonzero(keep)


def write_split(images: np.ndarray,
                labels: np.ndarray,
                indices: np.ndarray,
                split_dir: str,
                progress: bool = True) -> Dict[str, int]:
    """Write ``images[indices]`` as ``split_dir/<class>/<index>.png``.

    Returns:
        dict: images written per class folder.
    """
    width = len(str(len(labels) - 1))
    for name in CLASSES:
        os.makedirs(osp.join(split_dir, name), exist_ok=True)
    bar = None
    if progress:
        print(f'writing {len(indices)} images to {split_dir}')
        bar = ProgressBar(len(indices))
    step = 1000  # a bar update per image would double the time
    counts = {name: 0 for name in CLASSES}
    for n, i in enumerate(indices, 1):
        name = CLASSES[labels[i]]
        Image.fromarray(images[i]).save(  # 2-D uint8: mode 'L'
            osp.join(split_dir, name, f'{i:0{width}d}.png'))
        counts[name] += 1
        if bar is not None and (n % step == 0 or n == len(indices)):
            bar.update(n % step or step)
    if bar is not None:
        bar.file.write('\n')
    return counts


def count_pngs(split_dir: str) -> Dict[str, int]:
    counts = {}
    for name in CLASSES:
        folder = osp.join(split_dir, name)
        counts[name] = sum(1 for e in os.scandir(folder)
                           if e.name.endswith('.png')) \
            if osp.isdir(folder) else 0
    return counts


def describe_sources(src: str, splits: Sequence[str]) -> dict:
    """Path and size of each source file, by split and kind."""
    return {
        split: {
            kind: dict(path=osp.abspath(path), size=osp.getsize(path))
            for kind in KINDS
            for path in (find_idx_file(src, split, kind), )
        }
        for split in splits
    }


def read_marker(out: str) -> Optional[dict]:
    path = osp.join(out, MARKER)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_complete(out: str, wanted: dict) -> bool:
    """True when ``out`` holds a finished conversion with the same sources
    and options, and its class folders still hold the images it wrote."""
    marker = read_marker(out)
    if marker is None or any(
            marker.get(k) != wanted[k]
            for k in ('version', 'sources', 'options')):
        return False
    counts = marker.get('counts', {})
    return all(
        count_pngs(osp.join(out, split)) == counts.get(split)
        for split in wanted['options']['splits'])


def convert(src: str = DEFAULT_SRC,
            out: str = DEFAULT_OUT,
            max_per_class_train: Optional[int] = None,
            max_per_class_test: Optional[int] = None,
            splits: Sequence[str] = ('train', 'test'),
            force: bool = False,
            progress: bool = True) -> dict:
    """Convert the IDX files of ``src`` into the image folder ``out``.

    Args:
        src (str): Folder of ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``
            (each optionally ``.gz``).
        out (str): Output folder.
        max_per_class_train (int, optional): Keep only the first N images of
            each class of the training split. Defaults to all.
        max_per_class_test (int, optional): The same for the test split.
        splits (Sequence[str]): Splits to convert. Defaults to both.
        force (bool): Convert even when ``out`` is not empty: the split
            folders and the marker are replaced, nothing else in ``out`` is
            touched. Defaults to False.
        progress (bool): Print a progress bar. Defaults to True.

    Returns:
        dict: The marker's content (classes, counts per split and class,
        sources, options) plus ``skipped``: True when ``out`` already held
        this exact conversion.
    """
    splits = list(dict.fromkeys(check_split(s) for s in splits))
    if not splits:
        raise ValueError('no split to convert: expected some of '
                         f'{sorted(SPLITS)}')
    max_per_class = dict(train=max_per_class_train, test=max_per_class_test)
    for split, n in max_per_class.items():
        if n is not None and n < 1:
            raise ValueError(f'max_per_class_{split}={n}: expected >= 1 or '
                             'None (all)')
    wanted = dict(
        version=MARKER_VERSION,
        sources=describe_sources(src, splits),
        options=dict(
            splits=splits, max_per_class={s: max_per_class[s]
                                          for s in splits}))

    if not force and is_complete(out, wanted):
        marker = read_marker(out)
        marker['skipped'] = True
        return marker
    if osp.isdir(out) and os.listdir(out) and not force:
        previous = read_marker(out)
        if previous is None:
            why = (f'it has no {MARKER}: it is not a conversion this script '
                   'finished (or one that was interrupted)')
        else:
            why = (f'its {MARKER} records other sources or options '
                   f'({previous.get("options")}) or its images changed')
        raise FileExistsError(
            f'output folder {out!r} is not empty and {why}; refusing to '
            'overwrite it. Pass --force to replace its split folders '
            f'({", ".join(splits)}) or choose another --out.')
    if osp.exists(out) and not osp.isdir(out):
        raise NotADirectoryError(f'output {out!r} exists and is not a folder')

    # Read and check every split before touching the output.
    loaded = {split: load_split(src, split) for split in splits}
    selected = {
        split: first_per_class(loaded[split][1], max_per_class[split])
        for split in splits
    }

    os.makedirs(out, exist_ok=True)
    marker_path = osp.join(out, MARKER)
    if osp.exists(marker_path):  # stale until this conversion completes
        os.remove(marker_path)
    counts = {}
    for split in splits:
        split_dir = osp.join(out, split)
        if osp.exists(split_dir):
            shutil.rmtree(split_dir)
        images, labels = loaded[split][:2]
        counts[split] = write_split(images, labels, selected[split], split_dir,
                                    progress)

    marker = dict(wanted, classes=list(CLASSES), counts=counts)
    tmp = marker_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(marker, f, indent=2)
    os.replace(tmp, marker_path)
    return dict(marker, skipped=False)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert Fashion-MNIST IDX files into an image folder '
        '(<out>/<split>/<class>/<index>.png) for mmpretrain CustomDataset')
    parser.add_argument(
        '--src',
        default=DEFAULT_SRC,
        help='folder of the {train,t10k}-{images-idx3,labels-idx1}-ubyte'
        '[.gz] files (default: %(default)s, Debian dataset-fashion-mnist)')
    parser.add_argument(
        '--out', default=DEFAULT_OUT, help='output folder (%(default)s)')
    parser.add_argument(
        '--max-per-class-train',
        type=int,
        default=None,
        metavar='N',
        help='keep the first N training images of each class (default: all)')
    parser.add_argument(
        '--max-per-class-test',
        type=int,
        default=None,
        metavar='N',
        help='keep the first N test images of each class (default: all)')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'test'],
        help='splits to convert (default: train test)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace the split folders of a non-empty output folder')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        result = convert(
            src=args.src,
            out=args.out,
            max_per_class_train=args.max_per_class_train,
            max_per_class_test=args.max_per_class_test,
            splits=args.splits,
            force=args.force)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    totals = ', '.join(f'{split} {sum(c.values())}'
                       for split, c in result['counts'].items())
    if result['skipped']:
        print(f'{args.out} already holds this conversion ({totals} images); '
              'nothing to do')
    else:
        print(f'wrote {totals} images to {args.out} in '
              f'{time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
