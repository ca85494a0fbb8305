"""A checkpoint file never runs code: attack tests.

Each malicious file below is a real exploit of an unpickler that resolves
``builtins.getattr`` to Python's ``getattr`` (what mst_mm allow-listed
before): starting from a class the loader must accept (``HistoryBuffer``,
NumPy's ``_reconstruct``), it walks to ``eval`` and calls it through torch's
own allow-listed ``torch._tensor._rebuild_from_type_v2(func, type, args,
state)``, which calls ``func(*args)``. The payload creates a marker file.
``test_attack_files_are_real_exploits`` proves that against the old list;
every other test asserts the refusal *and* that the marker is absent, through
the shared loader and through each tool that loads a checkpoint.
"""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

import mst_mm  # noqa: F401  (patches mmengine's CheckpointLoader)
from mst_mm.utils.checkpoint_compat import (_numpy_globals,
                                            history_buffer_statistic)

ROUTES = ('history_buffer_init', 'history_buffer_mean_globals',
          'numpy_reconstruct_loader')


class _Call:
    """Pickles as the call ``func(*args)`` (a REDUCE opcode), evaluated by
    the unpickler."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _rebuild(func, result_type, *args):
    """``func(*args)`` through torch's allow-listed rebuild function."""
    return _Call(torch._tensor._rebuild_from_type_v2, func, result_type, args,
                 None)


def _eval_from_builtins(builtins_dict):
    """``builtins_dict.get('eval')``, with ``get``'s own type as the result
    type that ``_rebuild_from_type_v2`` checks (eval has the same type)."""
    get = _Call(getattr, builtins_dict, 'get')
    function_type = _Call(getattr, get, '__class__')
    return _rebuild(get, function_type, 'eval'), function_type


def malicious_payload(route: str, marker: str):
    """An object whose unpickling, with a real ``getattr``, creates
    ``marker`` and evaluates to ``eval``."""
    if route == 'history_buffer_init':  # HistoryBuffer.__init__.__builtins__
        init = _Call(getattr, HistoryBuffer, '__init__')
        builtins_dict = _Call(getattr, init, '__builtins__')
    elif route == 'history_buffer_mean_globals':
        # An allowed statistic first, then its module's globals.
        mean = _Call(getattr, HistoryBuffer, 'mean')
        module_globals = _Call(getattr, mean, '__globals__')
        get = _Call(getattr, module_globals, 'get')
        builtins_dict = _rebuild(get,
                                 _Call(getattr, module_globals, '__class__'),
                                 '__builtins__')
    elif route == 'numpy_reconstruct_loader':
        # _reconstruct.__self__ is numpy's extension module; its loader is a
        # Python object whose methods carry __builtins__.
        module = _Call(getattr, _numpy_globals()[0], '__self__')
        loader = _Call(getattr, module, '__loader__')
        init = _Call(getattr, _Call(getattr, loader, '__init__'), '__func__')
        builtins_dict = _Call(getattr, init, '__builtins__')
    else:
        raise ValueError(route)
    eval_, function_type = _eval_from_builtins(builtins_dict)
    code = f"__import__('pathlib').Path({marker!r}).touch() or eval"
    return _rebuild(eval_, function_type, code)


def write_malicious_checkpoint(path: str, route: str, marker: str) -> str:
    """A torch checkpoint that looks like a runner checkpoint, the payload
    hidden in its meta."""
    torch.save(
        dict(
            meta=dict(epoch=1, iter=4, note=malicious_payload(route, marker)),
            state_dict=dict(weight=torch.zeros(2))), path)
    return path


@pytest.fixture(params=ROUTES)
def attack(request, tmp_path):
    """``(checkpoint path, marker path)`` for one route."""
    marker = str(tmp_path / f'pwned_{request.param}')
    path = write_malicious_checkpoint(
        str(tmp_path / f'evil_{request.param}.pth'), request.param, marker)
    return path, marker


def _old_allow_list():
    return [HistoryBuffer, getattr] + _numpy_globals()


# ------------------------------------------------ the attack itself works
def test_attack_files_are_real_exploits(attack):
    """Control: with the real getattr on the list the payload runs, and the
    load completes as if nothing happened."""
    path, marker = attack
    with torch.serialization.safe_globals(_old_allow_list()):
        checkpoint = torch.load(path, weights_only=True)
    assert osp.exists(marker)
    assert checkpoint['meta']['note'] is eval
    os.remove(marker)


# ---------------------------------------------------- the shared loader
def test_shared_loader_refuses_and_runs_nothing(attack):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    path, marker = attack
    for load in (CheckpointLoader.load_checkpoint, _load_checkpoint):
        with pytest.raises(pickle.UnpicklingError) as error:
            load(path, map_location='cpu')
        message = str(error.value)
        assert path in message and 'Weights only load failed' in message
        assert 'refused getattr' in message
        assert not osp.exists(marker)


def test_getattr_replacement_allows_only_history_buffer_statistics():
    for name in ('mean', 'min', 'max', 'current'):
        assert history_buffer_statistic(HistoryBuffer,
                                        name) is getattr(HistoryBuffer, name)
    for owner, name in ((HistoryBuffer, '__init__'), (HistoryBuffer,
                                                      'register_statistics'),
                        (HistoryBuffer, '_statistics_methods'),
                        (HistoryBuffer, 'statistics'), (np.ndarray, 'mean'),
                        (HistoryBuffer.mean, '__globals__'), (HistoryBuffer,
                                                              ['mean'])):
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            history_buffer_statistic(owner, name)


def test_allow_list_holds_no_general_callable():
    from mst_mm.utils import mmengine_checkpoint_safe_globals
    entries = mmengine_checkpoint_safe_globals()
    objects = [e[0] if isinstance(e, tuple) else e for e in entries]
    for dangerous in (getattr, eval, exec, setattr, __import__, type):
        assert all(obj is not dangerous for obj in objects), dangerous
    assert (history_buffer_statistic, 'builtins.getattr') in entries
    # ... and none of it stays on torch's list after a load.
    assert not set(map(id, objects)) & set(
        map(id, torch.serialization.get_safe_globals()))


def test_weights_only_opt_out_is_refused(attack, monkeypatch):
    from mmengine.runner.checkpoint import _load_checkpoint
    path, marker = attack
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(RuntimeError, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
        _load_checkpoint(path, map_location='cpu')
    assert not osp.exists(marker)


# --------------------------------------------- every tool's entry point
@pytest.fixture
def mst_tiny_config(repo_root):
    return osp.join(repo_root, 'tests', 'data', 'configs', 'mst_tiny.py')


ENTRY_POINTS = ('train_resume', 'train_resume_auto', 'train_load_from',
                'train_pretrained_init', 'test', 'knn_eval', 'visualize_mst',
                'mst_to_backbone', 'dino_to_mst')


def run_entry_point(entry, evil, tmp_path, tools, configs, data):
    """Give the checkpoint ``evil`` to one tool the way a user would."""
    work_dir = str(tmp_path / 'work')
    tiny, mst_tiny = configs
    if entry.startswith('train'):
        args = [tiny, '--work-dir', work_dir]
        options = list(data)
        if entry == 'train_resume':
            args += ['--resume', evil]
        elif entry == 'train_resume_auto':
            os.makedirs(work_dir)
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(evil)
            args += ['--resume']
        elif entry == 'train_load_from':
            options.append(f'load_from={evil}')
        else:
            options += [
                'model.init_cfg.type=Pretrained',
                f'model.init_cfg.checkpoint={evil}'
            ]
        tools['train'].main(args + ['--cfg-options'] + options)
    elif entry == 'test':
        tools['test'].main(
            [tiny, evil, '--work-dir', work_dir, '--cfg-options', *data])
    elif entry == 'knn_eval':
        tools['load']('knn_eval').main([mst_tiny, evil])
    elif entry == 'visualize_mst':
        tools['load']('visualize_mst').main(
            [mst_tiny, evil, '--which', 'masks', '--out-dir', work_dir])
    else:
        tools['load'](f'model_converters/{entry}').main(
            [evil, str(tmp_path / 'out.pth')])


@pytest.mark.parametrize('entry', ENTRY_POINTS)
def test_every_tool_refuses_and_runs_nothing(entry, tmp_path, train_tool,
                                             test_tool, load_tool, tiny_config,
                                             mst_tiny_config,
                                             tiny_image_folder,
                                             data_root_options):
    marker = str(tmp_path / 'pwned')
    evil = write_malicious_checkpoint(
        str(tmp_path / 'epoch_1.pth'), 'history_buffer_init', marker)
    tools = dict(train=train_tool, test=test_tool, load=load_tool)
    with pytest.raises(Exception) as error:
        run_entry_point(entry, evil, tmp_path, tools,
                        (tiny_config, mst_tiny_config),
                        data_root_options(tiny_image_folder))
    message = str(error.value)
    assert 'refused' in message and evil in message, message
    assert not osp.exists(marker)
    assert not osp.exists(tmp_path / 'out.pth')
    assert not osp.exists(tmp_path / 'work' / 'epoch_1.pth')
