import os
import random

import numpy as np
import torch
from mmengine.registry import FUNCTIONS


@FUNCTIONS.register_module()
def resumable_worker_init_fn(worker_id: int, **unused) -> None:
    """Seed a data loader worker from the epoch's iterator seed and the
    process's rank, so that a resumed run's augmentations equal an
    uninterrupted run's.

    ``DataLoader`` draws a base seed from the main process's torch generator
    whenever an epoch's iterator starts; the worker's seed is ``base +
    worker_id`` (``get_worker_info().seed``). That generator is part of the
    checkpoint (``RandomStateHook``, per rank), so after a resume the
    workers of the next epoch get the seeds they would have got. mmengine's
    default ``worker_init_fn`` instead seeds every worker with the constant
    ``num_workers * rank + worker_id + seed``: the same streams in every
    epoch (without persistent workers), and restarted streams after a resume
    (with them). The rank is mixed in so that processes sharing a seed
    (``diff_rank_seed=False``) still augment differently.

    Needs ``persistent_workers=False``: persistent workers are started once
    per run, so a resumed run's would start from another point of their
    streams. Use as ``worker_init_fn=dict(type='resumable_worker_init_fn')``
    in a data loader config; extra keys are ignored.
    """
    info = torch.utils.data.get_worker_info()
    rank = int(os.environ.get('RANK', 0))
    state = np.random.SeedSequence([info.seed % 2**64, rank,
                                    worker_id]).generate_state(2)
    random.seed(int(state[0]))
    np.random.seed(int(state[0]))
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))
