import os
import subprocess
import time
from typing import List, Sequence


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
