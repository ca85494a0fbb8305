import os
import subprocess
import sys
import time
from typing import List, Optional, Sequence, Tuple


def run_step(cmd: Sequence[str],
             what: str,
             repo: str,
             tool: str,
             hint: str = '') -> float:
    """Run one step of a multi-step tool (the demo, the study) in a child
    process, from the repository and with it on ``PYTHONPATH``, streaming
    its output (progress bars); stop with a message naming the step if it
    fails.

    Returns:
        float: the step's wall time in seconds.
    """
    print(f'\n==> {what}\n    {" ".join(cmd)}', flush=True)
    start = time.time()
    env = dict(os.environ)
    env['PYTHONPATH'] = repo + (
        os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    proc = subprocess.run(list(cmd), cwd=repo, env=env)
    if proc.returncode != 0:
        raise SystemExit(f'{tool}: step "{what}" failed (exit code '
                         f'{proc.returncode}); see its output above. {hint}')
    seconds = time.time() - start
    print(f'    ({what}: {seconds:.0f} s)', flush=True)
    return seconds


def data_root_options(data: str) -> List[str]:
    """``--cfg-options`` pointing a pre-training config's training set and
    both k-NN sets at the image folder ``data``."""
    return [
        f'train_dataloader.dataset.data_root={data}',
        f'knn_evaluation.train_dataloader.dataset.data_root={data}',
        f'knn_evaluation.val_dataloader.dataset.data_root={data}',
    ]


# Where Debian's `dataset-fashion-mnist` installs the IDX files.
FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


def add_fashion_mnist_args(parser) -> None:
    """``--src`` (the IDX files) and how many images per class the image
    folder gets (``--train-per-class``, ``--test-per-class``)."""
    parser.add_argument(
        '--src',
        default=FASHION_MNIST,
        help='folder of the Fashion-MNIST IDX files')
    parser.add_argument('--train-per-class', type=int, default=500)
    parser.add_argument('--test-per-class', type=int, default=100)


def fashion_mnist_folder(args,
                         repo: str,
                         tool: str,
                         run,
                         data: Optional[str] = None) -> Tuple[str, float]:
    """Convert the Fashion-MNIST in ``args.src`` into an image folder of
    ``args.train_per_class`` / ``args.test_per_class`` images per class
    with the step runner ``run(cmd, what)`` (the converter reuses a folder
    already there).

    Args:
        data (str, optional): The folder. Defaults to
            ``<repo>/data/fashion_mnist_<train>_<test>``.

    Returns:
        tuple: the folder and the step's seconds.

    Raises:
        SystemExit: ``args.src`` holds no Fashion-MNIST (naming ``tool``).
    """
    if not any(
            os.path.isfile(
                os.path.join(args.src, f'train-images-idx3-ubyte{ext}'))
            for ext in ('', '.gz')):
        raise SystemExit(
            f'{tool}: no Fashion-MNIST in {args.src}; install Debian\'s '
            '`dataset-fashion-mnist` (tools/setup_env.sh does, as root) or '
            'pass --src')
    data = data or os.path.join(
        repo, 'data',
        f'fashion_mnist_{args.train_per_class}_{args.test_per_class}')
    seconds = run([
        sys.executable,
        'tools/dataset_converters/fashion_mnist_to_imagefolder.py', '--src',
        args.src, '--out', data, '--max-per-class-train',
        str(args.train_per_class), '--max-per-class-test',
        str(args.test_per_class)
    ], 'Fashion-MNIST -> image folder')
    return data, seconds
