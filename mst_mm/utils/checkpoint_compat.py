"""Load mmengine runner checkpoints under PyTorch >= 2.6 with weights-only
loading, and never run code from a checkpoint file.

PyTorch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine
0.10.7 never passes ``weights_only``, and a full runner checkpoint holds more
than tensors: the MessageHub's ``HistoryBuffer`` objects and NumPy
arrays/scalars (log histories, the RNG state of ``randomness``). ``--resume``,
``load_from`` and ``init_cfg=dict(type='Pretrained')`` then fail with
``Unsupported global``.

Rather than turning weights-only loading off (``TORCH_FORCE_NO_WEIGHTS_ONLY_
LOAD=1``), :func:`patch_mmengine_checkpoint_loader` allow-lists exactly what
an mmengine checkpoint contains, and only while mmengine's
``CheckpointLoader`` loads a file (the single entry point of resume,
``load_from``, ``PretrainedInit``, ``load_checkpoint`` and the converters in
``tools/model_converters``).

No general-purpose callable is on that list. The pickle of a
``HistoryBuffer`` names its statistics methods as ``getattr(HistoryBuffer,
'mean')`` (pickle protocol 2 spells a method that way), so the name
``builtins.getattr`` must resolve to *something*; it resolves to
:func:`history_buffer_statistic`, which returns only ``HistoryBuffer``'s
registered statistics methods and refuses anything else. A real ``getattr``
would walk from any allow-listed class to ``eval`` (``HistoryBuffer.__init__
.__builtins__``) and, through torch's own allow-listed
``torch._tensor._rebuild_from_type_v2(func, ...)``, call it.

Reading a file that is not a checkpoint (empty, truncated, another format)
raises an error naming the file. With ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
set, PyTorch would unpickle anything; the loader refuses to run then.
"""
import functools
import os
import pickle

import numpy as np
import torch

# The statistics HistoryBuffer registers for itself (its
# ``_set_default_statistics``); methods registered later through
# ``HistoryBuffer.register_statistics`` are accepted as well.
DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


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


def history_buffer_statistic(owner, name):
    """What ``builtins.getattr`` means inside a checkpoint: a statistics
    method of ``HistoryBuffer`` (``owner`` must be that class, ``name`` one
    of its registered statistics), nothing else.

    Raises:
        pickle.UnpicklingError: for any other object or attribute name.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = set(DEFAULT_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and type(name) is str and name in allowed:
        method = HistoryBuffer.__dict__.get(name)
        if method is None:  # registered from outside the class
            method = HistoryBuffer._statistics_methods[name]
        return method
    raise pickle.UnpicklingError(
        f'refused getattr({_describe(owner)}, {name!r}) in a checkpoint: '
        f'only HistoryBuffer statistics ({", ".join(sorted(allowed))}) may '
        'be looked up; this file tries to reach other Python objects and is '
        'not a checkpoint mst_mm will load')


def _describe(obj) -> str:
    if isinstance(obj, type):
        return f'{obj.__module__}.{obj.__qualname__}'
    return f'<{type(obj).__name__} object>'


def mmengine_checkpoint_safe_globals():
    """Return the list of globals a full mmengine runner checkpoint needs,
    in the form of ``torch.serialization.safe_globals``: classes/functions,
    and ``(replacement, 'builtins.getattr')``, which makes the unpickler
    resolve the name ``builtins.getattr`` to
    :func:`history_buffer_statistic`."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer,
            (history_buffer_statistic, 'builtins.getattr')] + _numpy_globals()


# The start of every refusal message; callers match on it.
REFUSED = ('Weights only load failed: the file holds something other than '
           'tensors and plain data, which is not loaded because unpickling '
           'it could run code')


def _unpickler_reason(err) -> str:
    """The unpickler's own reason from torch's long message (whose advice
    to retry with ``weights_only=False`` is exactly what must not be
    done with an untrusted file)."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1].split('Check the documentation')[0]
    return ' '.join(text.split())


def _weights_only_forced_off() -> bool:
    value = os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '')
    return value.strip().lower() in ('1', 'y', 'yes', 'true')


def patch_mmengine_checkpoint_loader():
    """Make ``CheckpointLoader.load_checkpoint`` accept runner checkpoints,
    refuse everything that is not data, and name the file in its errors.

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
        if _weights_only_forced_off():
            raise RuntimeError(
                f'{filename}: not loaded because TORCH_FORCE_NO_WEIGHTS_ONLY_'
                'LOAD is set, which would let the file run code; unset it '
                '(mst_mm loads runner checkpoints weights-only)')
        if (isinstance(filename, str) and '://' not in filename
                and os.path.isfile(filename)
                and os.path.getsize(filename) == 0):
            raise ValueError(f'{filename}: the file is empty, not a '
                             'checkpoint (an interrupted copy or save?)')
        try:
            with safe_globals(mmengine_checkpoint_safe_globals()):
                return original(cls, filename, map_location, logger)
        except pickle.UnpicklingError as err:
            raise pickle.UnpicklingError(
                f'{filename}: refused to load: {REFUSED} ('
                f'{_unpickler_reason(err)})') from err
        except (EOFError, IndexError, KeyError, RuntimeError,
                ValueError) as err:
            if str(filename) in str(err):
                raise
            message = (f'{filename}: cannot be read as a PyTorch checkpoint '
                       f'({type(err).__name__}: {err})')
            try:
                named = type(err)(message)
            except Exception:  # an exception type with other arguments
                named = RuntimeError(message)
            raise named from err

    load_checkpoint._mst_mm_patched = True
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)
