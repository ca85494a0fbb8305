import json
import os
import os.path as osp
from typing import Dict

SIGNALS = ('teacher_entropy', 'teacher_batch_entropy', 'distill_kl',
           'loss_restore')


def final_run_signals(work_dir: str, num_last: int = 3) -> Dict[str, float]:
    """A pre-training run's collapse signals at its end: the mean of the last
    ``num_last`` logged values of ``teacher_entropy``,
    ``teacher_batch_entropy`` (nats), ``distill_kl`` and ``loss_restore``,
    read from the newest ``vis_data/scalars.json`` under ``work_dir``.

    Returns:
        dict[str, float]: the signals the run logged (empty without logs).
    """
    found = sorted(
        osp.join(root, 'scalars.json') for root, _, files in os.walk(work_dir)
        if 'scalars.json' in files)
    if not found:
        return {}
    with open(found[-1]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    out = {}
    for key in SIGNALS:
        values = [r[key] for r in rows if key in r][-num_last:]
        if values:
            out[key] = sum(values) / len(values)
    return out
