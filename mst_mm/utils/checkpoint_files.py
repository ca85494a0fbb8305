"""Small file helpers shared by the checkpoint converters in
``tools/model_converters/``."""
import os
import os.path as osp

import torch


def check_paths(src: str, dst: str, force: bool, expected: str) -> None:
    """Fail before any loading: a missing input, or an output that exists
    (never overwritten without ``force``, never the input itself).

    Args:
        expected (str): What ``src`` should be, for the error message.
    """
    if '://' not in src and not osp.isfile(src):
        raise FileNotFoundError(
            f'{src}: no such checkpoint file (expected {expected})')
    if osp.exists(dst):
        if not force:
            raise FileExistsError(
                f'{dst} already exists; pass --force to overwrite it')
        if '://' not in src and osp.samefile(src, dst):
            raise ValueError(
                f'{dst} is the input checkpoint itself; choose another '
                'output path')


def key_sample(keys, num: int = 8) -> str:
    """The first ``num`` keys, for error messages."""
    keys = list(keys)
    more = f' ... ({len(keys)} keys in all)' if len(keys) > num else ''
    return ', '.join(map(str, keys[:num])) + more


def save_tensor_checkpoint(state_dict: dict, meta: dict, dst: str) -> None:
    """Write ``{'state_dict', 'meta'}`` atomically: an interrupted run never
    leaves half a file."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = f'{dst}.tmp{os.getpid()}'
    try:
        torch.save(dict(state_dict=state_dict, meta=meta), tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
