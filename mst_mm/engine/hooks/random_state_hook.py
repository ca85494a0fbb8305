import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

META_KEY = 'random_state'


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random number generators with every checkpoint and restore
    them on resume, so that a resumed run continues exactly like an
    uninterrupted one.

    mmengine's resume re-seeds from the configured seed, which restarts the
    generators instead of continuing them: the masker's Bernoulli draws,
    drop-path, and (with ``num_workers=0``) the multi-crop augmentations
    would differ from an uninterrupted run. Saved: Python's ``random``,
    NumPy's global generator, torch's CPU generator and, when present, the
    CUDA generators of this process. Each process restores its own state
    when the checkpoint holds one per rank count that matches; otherwise
    (another world size) it keeps the re-seeded state and says so.

    Dataloader worker processes seed themselves (mmengine's
    ``worker_init_fn``), so with ``num_workers > 0`` augmentations follow
    their own per-epoch seeds rather than these generators.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state(),
            world_size=runner.world_size,
            rank=runner.rank)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint.setdefault('meta', {})[META_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get(META_KEY)
        if state is None:
            return
        if state.get('world_size') != runner.world_size:
            runner.logger.warning(
                f'RandomStateHook: the checkpoint was saved by '
                f'{state.get("world_size")} processes, this run has '
                f'{runner.world_size}; random generators are re-seeded '
                'instead of restored')
            return
        random.setstate(state['python'])
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
