"""Does a checkpoint fit the model it is loaded into?

mmengine loads non-strictly: a checkpoint of another architecture leaves most
of the model at its random initialisation, with warnings in the log and exit
code 0. :func:`check_checkpoint_covers` makes that an error (every tensor of
the model must be in the checkpoint, with the same shape);
:func:`coverage_summary` counts what a deliberate partial load
(``init_cfg=dict(type='Pretrained', prefix=...)``) did.
"""
import re

import torch
from mmengine.logging import print_log

from .checkpoint_files import key_sample


def _tensors(state_dict: dict) -> dict:
    """``state_dict`` without DDP's ``module.`` prefix (mmengine strips it
    when loading) and without non-tensor entries."""
    return {
        re.sub(r'^module\.', '', key): value
        for key, value in state_dict.items() if torch.is_tensor(value)
    }


def compare_state_dicts(model_state: dict, checkpoint_state: dict) -> dict:
    """Keys of the model missing from the checkpoint, keys whose shapes
    differ (``(key, checkpoint shape, model shape)``), keys the model does
    not have, and the number loaded."""
    ckpt = _tensors(checkpoint_state)
    missing = [k for k in model_state if k not in ckpt]
    mismatched = [(k, tuple(ckpt[k].shape), tuple(v.shape))
                  for k, v in model_state.items()
                  if k in ckpt and ckpt[k].shape != v.shape]
    unexpected = [k for k in ckpt if k not in model_state]
    loaded = len(model_state) - len(missing) - len(mismatched)
    return dict(
        total=len(model_state),
        loaded=loaded,
        missing=missing,
        mismatched=mismatched,
        unexpected=unexpected)


def check_checkpoint_covers(model,
                            checkpoint_state: dict,
                            source: str,
                            what: str = 'the model') -> dict:
    """Raise unless ``checkpoint_state`` sets every tensor of ``model`` with
    the right shape. Keys the model does not have are allowed (returned).

    Args:
        model (nn.Module): The model to be loaded (unwrapped).
        checkpoint_state (dict): The checkpoint's state dict.
        source (str): The checkpoint file, for the message.
        what (str): How the model is named in the message (its config).

    Raises:
        ValueError: naming the file, the counts and a sample of the keys.
    """
    result = compare_state_dicts(model.state_dict(), checkpoint_state)
    if result['missing'] or result['mismatched']:
        parts = []
        if result['missing']:
            parts.append(f'{len(result["missing"])} of the model\'s '
                         f'{result["total"]} tensors are not in the file ('
                         f'{key_sample(result["missing"], 5)})')
        if result['mismatched']:
            shown = '; '.join(f'{k}: file {a} vs model {b}'
                              for k, a, b in result['mismatched'][:5])
            parts.append(f'{len(result["mismatched"])} have another shape '
                         f'({shown})')
        if result['unexpected']:
            unexpected = result['unexpected']
            parts.append(f'the file has {len(unexpected)} tensors the model '
                         f'lacks ({key_sample(unexpected, 5)})')
        raise ValueError(
            f'{source} does not fit {what}: ' + '; '.join(parts) +
            '. It is a checkpoint of another model; loading it would leave '
            'those weights random. For a deliberate partial load (e.g. a '
            "pre-trained backbone) use init_cfg=dict(type='Pretrained', "
            "checkpoint=..., prefix='backbone.').")
    return result


def coverage_summary(result: dict,
                     source: str,
                     module_name: str,
                     prefix=None) -> str:
    """One line saying how much of a module a partial load set."""
    text = (f'Pretrained: loaded {result["loaded"]} of {result["total"]} '
            f'tensors of {module_name} from {source}' +
            (f' (keys under {prefix!r})' if prefix else ''))
    if result['missing']:
        text += (f'; {len(result["missing"])} keep their initialisation ('
                 f'{key_sample(result["missing"], 5)})')
    if result['mismatched']:
        shown = '; '.join(f'{k}: file {a} vs model {b}'
                          for k, a, b in result['mismatched'][:5])
        text += (f'; {len(result["mismatched"])} have another shape in the '
                 'file (resized by the model\'s own load hook, such as a '
                 f'ViT\'s pos_embed, or else left initialised: {shown})')
    if result['unexpected']:
        text += f'; {len(result["unexpected"])} tensors of the file unused'
    return text


def load_checkpoint_checked(model, filename: str, what: str) -> dict:
    """mmengine's ``load_checkpoint`` (weights-only, ``module.`` stripped),
    after :func:`check_checkpoint_covers`: the tools that evaluate or draw a
    checkpoint refuse one that does not fit the config's model."""
    from mmengine.runner.checkpoint import (_load_checkpoint,
                                            _load_checkpoint_to_model)
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{filename}: holds a {type(checkpoint).__name__}, '
                         'expected a dict of tensors or a runner checkpoint')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise ValueError(f'{filename}: its state_dict is a '
                         f'{type(state_dict).__name__}, expected a dict')
    check_checkpoint_covers(model, state_dict, filename, what)
    return _load_checkpoint_to_model(model, checkpoint, strict=False)


def patch_pretrained_init_report():
    """Make ``init_cfg=dict(type='Pretrained')`` say how much it loaded.

    Without ``prefix`` the checkpoint must fit the module (as with
    ``load_from``); with ``prefix`` a partial load is the point (a
    pre-trained backbone in a detector), so it goes on, and logs how many of
    the module's tensors were set, which kept their initialisation and which
    had another shape. Idempotent.
    """
    from mmengine.model.weight_init import PretrainedInit
    original = PretrainedInit.__call__
    if getattr(original, '_mst_mm_patched', False):
        return

    def __call__(self, module):
        from mmengine.runner.checkpoint import (_load_checkpoint,
                                                _load_checkpoint_to_model,
                                                load_state_dict)
        name = type(module).__name__
        if self.prefix is None:
            print_log(f'load model from: {self.checkpoint}', logger='current')
            checkpoint = _load_checkpoint(
                self.checkpoint, map_location=self.map_location)
            state_dict = checkpoint.get('state_dict', checkpoint) if \
                isinstance(checkpoint, dict) else checkpoint
            if not isinstance(state_dict, dict):
                raise ValueError(
                    f'{self.checkpoint}: holds a {type(state_dict).__name__}'
                    ', expected a dict of tensors or a runner checkpoint')
            check_checkpoint_covers(
                module,
                state_dict,
                self.checkpoint,
                what=f'{name} (init_cfg Pretrained without prefix; give '
                "prefix='backbone.' or the like for a partial load)")
            _load_checkpoint_to_model(
                module, checkpoint, strict=False, logger='current')
        else:
            state_dict = _prefixed_state_dict(self.checkpoint, self.prefix,
                                              self.map_location)
            result = compare_state_dicts(module.state_dict(), state_dict)
            # module global on purpose: looked up at call time
            print_log(
                coverage_summary(result, self.checkpoint, name, self.prefix),
                logger='current',
                level=30 if result['missing'] or result['mismatched'] else 20)
            load_state_dict(module, state_dict, strict=False, logger='current')

    __call__._mst_mm_patched = True
    PretrainedInit.__call__ = __call__


# Where an MST/DINO runner checkpoint keeps the teacher's backbone.
TEACHER_PREFIX = 'teacher.module.backbone.'


def _prefixed_state_dict(filename: str, prefix: str, map_location) -> dict:
    """The tensors of ``filename`` under ``prefix``, with it stripped
    (mmengine's ``_load_checkpoint_with_prefix``), refusing the one silent
    mistake of a downstream config: ``prefix='backbone.'`` on an MST runner
    checkpoint would load the *student*, while the paper's transfer results
    and the export tool use the teacher."""
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else checkpoint
    if not isinstance(state_dict, dict):
        raise ValueError(f'{filename}: holds a {type(state_dict).__name__}, '
                         'expected a dict of tensors or a runner checkpoint')
    if not prefix.endswith('.'):
        prefix += '.'
    if prefix == 'backbone.' and any(
            k.startswith(TEACHER_PREFIX) for k in state_dict):
        raise ValueError(
            f"{filename} is an MST/DINO pre-training checkpoint (it holds the "
            f"EMA teacher, '{TEACHER_PREFIX}*'); init_cfg prefix='backbone.' "
            'would load its *student* backbone, but MST evaluates and '
            'transfers the teacher. Export the teacher first:\n'
            f'    python tools/model_converters/mst_to_backbone.py {filename} '
            'backbone.pth\n'
            "and point init_cfg.checkpoint at backbone.pth, or load the "
            f"teacher directly with prefix='{TEACHER_PREFIX}'")
    state_dict = {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }
    assert state_dict, (f'{prefix} is not in the pretrained model '
                        f'{filename}: no key starts with it')
    return state_dict
