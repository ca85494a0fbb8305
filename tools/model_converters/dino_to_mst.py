#!/usr/bin/env python
"""Import an official DINO ViT checkpoint (facebookresearch/dino) into
mmpretrain's ``VisionTransformer`` key names.

Two published layouts are read:

- backbone only (``dino_deitsmall16_pretrain.pth`` and the like): timm-style
  keys ``cls_token``, ``pos_embed``, ``patch_embed.proj.*``, ``blocks.N.*``,
  ``norm.*``;
- the full training checkpoint (``*_full_checkpoint.pth``): a dict with
  ``teacher`` (keys ``backbone.*``, ``head.*``) and ``student`` (DDP keys
  ``module.backbone.*``, ``module.head.*``) plus optimizer, epoch and
  ``args``. ``--which`` picks the network (the teacher by default, the one
  DINO evaluates); its projection head is dropped unless ``--with-head``.

Key mapping (timm -> mmpretrain)::

    patch_embed.proj        -> patch_embed.projection
    blocks.N.norm1          -> layers.N.ln1
    blocks.N.attn.qkv/proj  -> layers.N.attn.qkv/proj
    blocks.N.norm2          -> layers.N.ln2
    blocks.N.mlp.fc1        -> layers.N.ffn.layers.0.0
    blocks.N.mlp.fc2        -> layers.N.ffn.layers.1
    norm                    -> ln1 (the final norm)

The output is tensor-only, ``{'state_dict': {'backbone.<key>': Tensor},
'meta': {...}}``, like ``mst_to_backbone.py``: use it as
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')`` of a
``VisionTransformer`` (``arch='deit-small'``, ``patch_size=16``,
``norm_cfg=dict(type='LN', eps=1e-6)`` for ViT-S/16) in MST, DINO or
downstream configs, or as ``load_from`` of an MST model (its student
backbone; ``mask_token`` keeps its initialisation).

With ``--with-head`` DINO's head is written as ``head.*`` in
:class:`MSTHead` names (``last_layer.weight_g/weight_v`` become the
``parametrizations.weight.original0/original1`` of PyTorch's weight norm).
DINO's ViT heads have no BN (``use_bn_in_head=False``): the MSTHead config
must then say ``use_bn=False``; the tool prints the matching settings.

Example::

    python tools/model_converters/dino_to_mst.py \\
        dino_deitsmall16_pretrain.pth checkpoints/dino_vit-s16_mmpretrain.pth
"""
import argparse
import os.path as osp
import re

import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mst_mm
from mst_mm.utils.checkpoint_files import (check_paths, key_sample,
                                           save_tensor_checkpoint)

OUT_PREFIX = 'backbone.'
# (timm pattern, mmpretrain replacement), tried in order, full matches only.
BACKBONE_KEY_MAP = [
    (r'cls_token', r'cls_token'),
    (r'pos_embed', r'pos_embed'),
    (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
    (r'blocks\.(\d+)\.norm1\.(weight|bias)', r'layers.\1.ln1.\2'),
    (r'blocks\.(\d+)\.attn\.qkv\.(weight|bias)', r'layers.\1.attn.qkv.\2'),
    (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)', r'layers.\1.attn.proj.\2'),
    (r'blocks\.(\d+)\.norm2\.(weight|bias)', r'layers.\1.ln2.\2'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'layers.\1.ffn.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'layers.\1.ffn.layers.1.\2'),
    (r'norm\.(weight|bias)', r'ln1.\1'),
]
# Every DINO ViT block has these (qkv bias aside: qkv_bias=False exists).
BLOCK_KEYS = ('norm1.weight', 'norm1.bias', 'attn.qkv.weight',
              'attn.proj.weight', 'attn.proj.bias', 'norm2.weight',
              'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight',
              'mlp.fc2.bias')
TOP_KEYS = ('cls_token', 'pos_embed', 'patch_embed.proj.weight', 'norm.weight',
            'norm.bias')
HEAD_KEY_MAP = [
    # nlayers=1: DINO's mlp is a bare Linear, MSTHead's a 1-layer Sequential
    (r'mlp\.(weight|bias)', r'mlp.0.\1'),
    (r'mlp\.(\d+)\.(\w+)', r'mlp.\1.\2'),
    # torch.nn.utils.weight_norm (DINO) -> parametrizations.weight_norm
    (r'last_layer\.weight_g', r'last_layer.parametrizations.weight.original0'),
    (r'last_layer\.weight_v', r'last_layer.parametrizations.weight.original1'),
    (r'last_layer\.parametrizations\.weight\.original([01])',
     r'last_layer.parametrizations.weight.original\1'),
]
DINO_ARGS = ('arch', 'patch_size', 'out_dim', 'norm_last_layer',
             'use_bn_in_head', 'epochs')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an official DINO ViT checkpoint (backbone-only '
        'or full training checkpoint) to mmpretrain VisionTransformer keys '
        'for MST/DINO configs and downstream tasks.')
    parser.add_argument('src', help='DINO checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--which',
        choices=('teacher', 'student'),
        default='teacher',
        help='network of a full training checkpoint (default: teacher)')
    parser.add_argument(
        '--with-head',
        action='store_true',
        help='also write the projection head as MSTHead "head.*" keys '
        '(full checkpoints only)')
    parser.add_argument(
        '--no-prefix',
        action='store_true',
        help=f'write bare VisionTransformer keys instead of '
        f'"{OUT_PREFIX}<key>"')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing dst')
    return parser.parse_args(argv)


def load_dino_checkpoint(src: str):
    """Read ``src`` weights-only; a full DINO checkpoint also pickles its
    ``argparse.Namespace`` of arguments, a plain attribute bag that is
    allow-listed here (and only here)."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            return CheckpointLoader.load_checkpoint(src, map_location='cpu')
        except Exception as err:
            if 'Weights only load failed' not in str(err):
                raise
            raise RuntimeError(
                f'{src}: holds Python objects other than tensors and DINO\'s '
                f'arguments, so it is not a DINO checkpoint this tool knows. '
                f'If you trust the file, convert it to a plain state dict '
                f'first. PyTorch said: {str(err).splitlines()[-1]}') from err


def select_network(checkpoint, src: str, which: str):
    """Return ``(layout, network, backbone_timm_dict, head_dict)``."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{src}: expected a dict (a DINO state dict or '
                         f'full checkpoint), got {type(checkpoint).__name__}')
    if 'teacher' in checkpoint or 'student' in checkpoint:
        if which not in checkpoint:
            raise ValueError(
                f'{src}: --which {which}, but this full DINO checkpoint has '
                f'only: {key_sample(checkpoint)}')
        layout, network, state = 'full', which, checkpoint[which]
        if not isinstance(state, dict):
            raise ValueError(f'{src}: "{which}" is a '
                             f'{type(state).__name__}, expected a state dict')
    else:
        layout, network, state = 'backbone-only', 'backbone', checkpoint

    # DDP (the student, and a teacher with BN in its head) adds "module."
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    if any(k.startswith('backbone.') for k in state):
        backbone = {
            k[len('backbone.'):]: v
            for k, v in state.items() if k.startswith('backbone.')
        }
        head = {
            k[len('head.'):]: v
            for k, v in state.items() if k.startswith('head.')
        }
        others = [k for k in state if not k.startswith(('backbone.', 'head.'))]
        if others:
            raise ValueError(
                f'{src}: unexpected keys beside "backbone.*"/"head.*" in the '
                f'{network}: {key_sample(others)}')
    elif layout == 'full':
        raise ValueError(
            f'{src}: the "{which}" entry has no "backbone.*" (or '
            f'"module.backbone.*") keys as DINO writes them; found: '
            f'{key_sample(state)}')
    else:
        backbone, head = state, {}
    return layout, network, backbone, head


def map_keys(state: dict, table, src: str, what: str) -> dict:
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, repl in table:
            if re.fullmatch(pattern, key):
                if not torch.is_tensor(value):
                    raise TypeError(f'{src}: {what} key {key} holds a '
                                    f'{type(value).__name__}, expected a '
                                    'tensor')
                out[re.sub(pattern, repl, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        if what == 'backbone':
            expected = ('timm ViT keys: cls_token, pos_embed, '
                        'patch_embed.proj.*, blocks.N.*, norm.*')
            if 'patch_embed.projection.weight' in state:
                expected += ' (these look converted to mmpretrain already)'
        else:
            expected = 'DINO head keys: mlp.*, last_layer.weight_g/weight_v'
        raise ValueError(f'{src}: unknown {what} keys for a DINO ViT: '
                         f'{key_sample(unknown)}; expected {expected}')
    return out


def check_complete(backbone: dict, src: str) -> int:
    """All of a ViT's tensors are there; returns the number of blocks."""
    blocks = sorted(
        {int(k.split('.')[1])
         for k in backbone if k.startswith('blocks.')})
    missing = [k for k in TOP_KEYS if k not in backbone]
    if blocks != list(range(len(blocks))) or not blocks:
        missing.append(f'blocks.0..N (found block indices {blocks})')
    missing += [
        f'blocks.{i}.{k}' for i in blocks for k in BLOCK_KEYS
        if f'blocks.{i}.{k}' not in backbone
    ]
    if missing:
        raise ValueError(
            f'{src}: not a complete DINO ViT; missing {key_sample(missing)} '
            f'(found {key_sample(backbone)})')
    return len(blocks)


def head_settings(head: dict) -> dict:
    """MSTHead arguments that reproduce DINO's head (for the user)."""
    linears = sorted(
        int(k.split('.')[1]) for k in head
        if re.fullmatch(r'mlp\.\d+\.weight', k) and head[k].dim() == 2)
    v = head['last_layer.parametrizations.weight.original1']
    settings = dict(
        in_channels=int(head[f'mlp.{linears[0]}.weight'].shape[1]),
        out_channels=int(v.shape[0]),
        bottleneck_channels=int(v.shape[1]),
        num_layers=len(linears),
        use_bn=any(k.endswith('running_mean') for k in head))
    if len(linears) > 1:
        settings['hidden_channels'] = int(
            head[f'mlp.{linears[0]}.weight'].shape[0])
    return settings


def convert(src: str,
            dst: str,
            which: str = 'teacher',
            with_head: bool = False,
            prefix: bool = True,
            force: bool = False) -> dict:
    """Convert ``src`` to ``dst``; returns the file's meta."""
    if with_head and not prefix:
        raise ValueError('--with-head writes "backbone.*" and "head.*" keys; '
                         'it cannot be combined with --no-prefix')
    check_paths(
        src,
        dst,
        force,
        expected='a DINO ViT checkpoint such as '
        'dino_deitsmall16_pretrain.pth')
    checkpoint = load_dino_checkpoint(src)
    layout, network, backbone, head = select_network(checkpoint, src, which)
    mapped = map_keys(backbone, BACKBONE_KEY_MAP, src, 'backbone')
    num_layers = check_complete(backbone, src)
    state_dict = {
        (OUT_PREFIX if prefix else '') + k: v
        for k, v in mapped.items()
    }
    dropped = sorted(f'head.{k}' for k in head)
    settings = None
    if with_head:
        if not head:
            raise ValueError(
                f'{src}: --with-head, but the {layout} checkpoint has no '
                '"head.*" keys (only full DINO training checkpoints do)')
        head = map_keys(head, HEAD_KEY_MAP, src, 'head')
        settings = head_settings(head)
        state_dict.update({f'head.{k}': v for k, v in head.items()})
        dropped = []
    state_dict = {k: v.detach().cpu().clone() for k, v in state_dict.items()}

    args = checkpoint.get('args') if layout == 'full' else None
    meta = dict(
        source=src if '://' in src else osp.abspath(src),
        layout=layout,
        network=network,
        epoch=checkpoint.get('epoch') if layout == 'full' else None,
        dino_args={k: getattr(args, k)
                   for k in DINO_ARGS if hasattr(args, k)} if isinstance(
                       args, argparse.Namespace) else None,
        dropped_keys=dropped,
        key_prefix=OUT_PREFIX if prefix else '',
        num_layers=num_layers,
        embed_dims=int(backbone['cls_token'].shape[-1]),
        patch_size=list(backbone['patch_embed.proj.weight'].shape[-2:]),
        pos_embed_tokens=int(backbone['pos_embed'].shape[1]),
        head_settings=settings,
        converter='mst_mm tools/model_converters/dino_to_mst.py',
        mst_mm_version=mst_mm.__version__)
    save_tensor_checkpoint(state_dict, meta, dst)

    print(f'Converted the {network} of the {layout} DINO checkpoint {src}: '
          f'{num_layers} blocks, {meta["embed_dims"]} dims, patch '
          f'{meta["patch_size"]} -> {dst} ({len(state_dict)} tensors)')
    if dropped:
        print(f'Dropped {len(dropped)} head keys (use --with-head to keep '
              f'them): {key_sample(dropped, 4)}')
    if settings:
        print(f'MSTHead settings matching the head: {settings}')
    return meta


def main(argv=None) -> dict:
    args = parse_args(argv)
    return convert(
        args.src,
        args.dst,
        which=args.which,
        with_head=args.with_head,
        prefix=not args.no_prefix,
        force=args.force)


if __name__ == '__main__':
    main()
