"""Load mmengine runner checkpoints under PyTorch >= 2.6 without disabling
weights-only loading.

PyTorch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7
never passes ``weights_only``, and a full runner checkpoint holds more than
tensors: the MessageHub's ``HistoryBuffer`` objects and NumPy arrays/scalars
(log histories, the RNG state of ``randomness``). ``--resume``, ``load_from``
and ``init_cfg=dict(type='Pretrained')`` then fail with ``Unsupported global``.

Rather than turning weights-only loading off for every file the process loads
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), :func:`patch_mmengine_checkpoint_loader`
allow-lists exactly what an mmengine checkpoint contains, and only while
mmengine's ``CheckpointLoader`` loads a file (the single entry point of resume,
``load_from`` and ``PretrainedInit``). Any other pickled object is still
refused, and a bare ``torch.load`` elsewhere keeps PyTorch's default list.

``builtins.getattr`` is on the list because ``HistoryBuffer`` pickles its
statistics methods as ``getattr(HistoryBuffer, 'mean')``; the weights-only
unpickler still refuses to *call* anything not allow-listed, so it can only
fetch attributes of the classes below.
"""
import builtins
import functools

import numpy as np
import torch


def _numpy_globals():
    """The NumPy callables/classes that pickled arrays and scalars name."""
    try:  # NumPy >= 1.25 spells the private module numpy._core in 2.x
        multiarray = np._core.multiarray  # type: ignore[attr-defined]
    except AttributeError:
        multiarray = np.core.multiarray
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # Pickled dtypes name their concrete class (numpy.dtypes.Float64DType...).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    return found


def mmengine_checkpoint_safe_globals():
    """Return the list of globals a full mmengine runner checkpoint needs."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, builtins.getattr] + _numpy_globals()


def patch_mmengine_checkpoint_loader():
    """Make ``CheckpointLoader.load_checkpoint`` accept runner checkpoints.

    Idempotent; a no-op on PyTorch without ``serialization.safe_globals``
    (< 2.5), where ``torch.load`` does not default to weights-only anyway.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    original = CheckpointLoader.load_checkpoint.__func__
    if safe_globals is None or getattr(original, '_mst_mm_patched', False):
        return

    @functools.wraps(original)
    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        with safe_globals(mmengine_checkpoint_safe_globals()):
            return original(cls, filename, map_location, logger)

    load_checkpoint._mst_mm_patched = True
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)
