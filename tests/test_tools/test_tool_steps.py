"""mst_mm/utils/tool_steps.py: the Fashion-MNIST step that the demo and the
study share."""
import argparse
import os.path as osp
import sys

import pytest

from mst_mm.utils.tool_steps import (FASHION_MNIST, add_fashion_mnist_args,
                                     fashion_mnist_folder)


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_fashion_mnist_args(parser)
    return parser.parse_args(argv)


def test_fashion_mnist_flags_and_their_defaults():
    args = parse()
    assert (args.src, args.train_per_class,
            args.test_per_class) == (FASHION_MNIST, 500, 100)
    args = parse('--src', 'idx', '--train-per-class', '3', '--test-per-class',
                 '2')
    assert (args.src, args.train_per_class, args.test_per_class) == ('idx', 3,
                                                                     2)


def test_a_folder_without_fashion_mnist_is_named(tmp_path):
    args = parse('--src', str(tmp_path))
    with pytest.raises(SystemExit) as err:
        fashion_mnist_folder(args, '/repo', 'study', run=None)
    assert str(err.value).startswith(
        f'study: no Fashion-MNIST in {tmp_path}; install Debian\'s '
        '`dataset-fashion-mnist`')


@pytest.mark.parametrize(
    'name', ['train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz'])
def test_the_converter_step_gets_the_counts_and_the_folder(tmp_path, name):
    (tmp_path / name).write_bytes(b'')
    args = parse('--src', str(tmp_path), '--train-per-class', '7',
                 '--test-per-class', '3')
    steps = []

    def run(cmd, what):
        steps.append((cmd, what))
        return 12.5

    data, seconds = fashion_mnist_folder(args, '/repo', 'demo', run)
    assert data == osp.join('/repo', 'data', 'fashion_mnist_7_3')
    assert seconds == 12.5
    assert steps == [([
        sys.executable,
        'tools/dataset_converters/fashion_mnist_to_imagefolder.py', '--src',
        str(tmp_path), '--out', data, '--max-per-class-train', '7',
        '--max-per-class-test', '3'
    ], 'Fashion-MNIST -> image folder')]
    # A folder of the caller's choice (the study's --data-dir).
    assert fashion_mnist_folder(args, '/repo', 'demo', run,
                                '/elsewhere')[0] == '/elsewhere'
