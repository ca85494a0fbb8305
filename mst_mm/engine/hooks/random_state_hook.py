import contextlib
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object
from mmengine.hooks import CheckpointHook, Hook
from mmpretrain.registry import HOOKS

META_KEY = 'random_state'


def capture_random_state() -> dict:
    """This process's generators: Python's ``random``, NumPy's global one,
    torch's CPU one and, when initialised, the CUDA ones."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Set this process's generators to ``state``
    (:func:`capture_random_state`)."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@contextlib.contextmanager
def preserved_random_state():
    """Leave this process's generators as they were after the ``with``
    block, e.g. so that drawing pictures (augmentations of the kept images,
    BERT replacement in the student) does not change the training that
    follows."""
    state = capture_random_state()
    try:
        yield
    finally:
        restore_random_state(state)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random number generators of *every* process with each
    checkpoint and restore each process's own on resume, so that a resumed
    run continues exactly like an uninterrupted one.

    mmengine's resume re-seeds from the configured seed, which restarts the
    generators instead of continuing them: the masker's Bernoulli draws,
    drop-path, and (with ``num_workers=0``) the multi-crop augmentations
    would differ from an uninterrupted run.

    Only rank 0 writes the checkpoint (``Runner.save_checkpoint`` is
    master-only), so whenever a ``CheckpointHook`` may save (end of an
    epoch, or an iteration-based save), every process first sends its state
    to rank 0 (``all_gather_object``, this hook's priority is above
    ``CheckpointHook``'s). The checkpoint's ``meta['random_state']`` is
    ``dict(world_size=N, ranks=[state of rank 0, ..., rank N-1])``; on
    resume each process restores ``ranks[its rank]``. Saved by another
    number of processes, or by an older version that stored only rank 0's
    state for a multi-process run, the generators keep their re-seeded
    state and a warning says so.

    Data loader workers seed themselves: with ``num_workers > 0`` the
    shipped configs use ``persistent_workers=False`` and
    ``resumable_worker_init_fn``, which seeds each epoch's workers from the
    (restored) torch generator. Persistent workers cannot be resumed
    exactly; ``before_train`` warns about them.
    """

    priority = 'LOW'  # after most hooks, before CheckpointHook (VERY_LOW)

    def __init__(self) -> None:
        self._gathered = None  # every rank's state, on rank 0

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if getattr(loader, 'num_workers', 0) > 0 and getattr(
                loader, 'persistent_workers', False):
            runner.logger.warning(
                'RandomStateHook: train_dataloader has persistent_workers='
                'True; its workers\' random streams are not in checkpoints, '
                'so a resumed run will augment differently from an '
                'uninterrupted one (set persistent_workers=False and '
                "worker_init_fn=dict(type='resumable_worker_init_fn'))")

    def _gather(self, runner) -> None:
        if runner.world_size > 1:
            self._gathered = all_gather_object(capture_random_state())

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or hook.by_epoch:
                continue
            saves = self.every_n_train_iters(
                runner, hook.interval) or (hook.save_last
                                           and self.is_last_train_iter(runner))
            if saves:
                self._gather(runner)
                return

    def after_train_epoch(self, runner) -> None:
        self._gather(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        ranks = [capture_random_state()]  # rank 0's own, as of now
        if runner.world_size > 1:
            if (self._gathered is None
                    or len(self._gathered) != runner.world_size):
                runner.logger.warning(
                    'RandomStateHook: a save outside the CheckpointHook '
                    'schedule; the other ranks\' random states are not in '
                    'this checkpoint')
                ranks = None
            else:
                ranks += list(self._gathered[1:])
        checkpoint.setdefault('meta', {})[META_KEY] = dict(
            world_size=runner.world_size, ranks=ranks)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get(META_KEY)
        if state is None:
            return
        saved_by = state.get('world_size')
        ranks = state.get('ranks')
        if 'ranks' not in state and saved_by == 1:
            ranks = [state]  # earlier versions: one dict, one process
        if not ranks or len(ranks) != runner.world_size:
            runner.logger.warning(
                f'RandomStateHook: the checkpoint holds the random state of '
                f'{len(ranks) if ranks else "not every one"} of its '
                f'{saved_by} processes, this run has {runner.world_size}; '
                'random generators are re-seeded instead of restored')
            return
        restore_random_state(ranks[runner.rank])
