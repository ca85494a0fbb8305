#!/usr/bin/env python
"""Export the backbone of an MST (or DINO-baseline) runner checkpoint.

A runner checkpoint of :class:`mst_mm.models.MST` holds the student
(``backbone.*``, ``neck.*``, ``head.*``), the EMA teacher
(``teacher.module.backbone.*``, ``teacher.module.head.*``), the loss centre,
the optimizer and the message hub. Downstream tasks need one ViT only: the
teacher by default (DINO and MST evaluate the teacher), or the student with
``--student``.

The output is ``{'state_dict': {'backbone.<key>': Tensor}, 'meta': {...}}``
with nothing but tensors and plain Python values, so ``torch.load(...,
weights_only=True)`` reads it without allow-listing anything, and its keys
are exactly those of mmpretrain's ``VisionTransformer``: the student's
``mask_token`` (MSTViT's only extra parameter) is dropped. Use it as

- ``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``
  of an ``mmpretrain.VisionTransformer`` backbone (mmpretrain classifiers,
  mmdet and mmseg configs alike);
- ``load_from=OUT`` of an mmpretrain ``ImageClassifier``;
- with ``--no-prefix``, a bare ``VisionTransformer.load_state_dict``.

Example::

    python tools/model_converters/mst_to_backbone.py \\
        work_dirs/mst/epoch_100.pth work_dirs/mst/teacher_backbone.pth
"""
import argparse
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mst_mm  # noqa: F401  (lets mmengine read runner checkpoints)
from mst_mm.utils.checkpoint_files import (check_paths, key_sample,
                                           save_tensor_checkpoint)

NETWORK_PREFIXES = {
    'teacher': 'teacher.module.backbone.',
    'student': 'backbone.',
}
# MSTViT's parameters that a plain VisionTransformer does not have.
MST_ONLY_KEYS = ('mask_token', )
OUT_PREFIX = 'backbone.'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export the teacher (default) or student backbone of an '
        'MST runner checkpoint as a backbone-only, tensor-only checkpoint '
        'loadable by mmpretrain VisionTransformer / mmdet / mmseg.')
    parser.add_argument('src', help='MST runner checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--student',
        action='store_true',
        help='export the student backbone instead of the EMA teacher')
    parser.add_argument(
        '--no-prefix',
        action='store_true',
        help=f'write bare VisionTransformer keys instead of '
        f'"{OUT_PREFIX}<key>"')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing dst')
    return parser.parse_args(argv)


def vit_summary(state_dict: dict) -> dict:
    """What the tensors say about the ViT (to choose the config's arch)."""
    layers = {
        int(k.split('.')[1])
        for k in state_dict if k.startswith('layers.')
    }
    summary = dict(num_layers=len(layers))
    if 'cls_token' in state_dict:
        summary['embed_dims'] = int(state_dict['cls_token'].shape[-1])
    proj = state_dict.get('patch_embed.projection.weight')
    if proj is not None:
        summary['patch_size'] = list(proj.shape[-2:])
    if 'pos_embed' in state_dict:
        summary['pos_embed_tokens'] = int(state_dict['pos_embed'].shape[1])
    return summary


def extract_backbone(checkpoint, src: str, network: str):
    """Return ``(backbone_state_dict, dropped_keys)`` of ``network``."""
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        found = key_sample(checkpoint) if isinstance(checkpoint, dict) \
            else type(checkpoint).__name__
        raise ValueError(
            f'{src}: no "state_dict" entry; expected an mmengine runner '
            f'checkpoint of an MST model, found {found}')
    state_dict = checkpoint['state_dict']
    teacher_prefix = NETWORK_PREFIXES['teacher']
    if not any(k.startswith(teacher_prefix) for k in state_dict):
        raise ValueError(
            f'{src}: no "{teacher_prefix}*" keys in its state_dict, so it is '
            f'not an MST/DINO checkpoint of this project (expected the EMA '
            f'teacher under "{teacher_prefix}"); found: '
            f'{key_sample(state_dict)}')
    prefix = NETWORK_PREFIXES[network]
    backbone, dropped = {}, []
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name in MST_ONLY_KEYS:
            dropped.append(name)
            continue
        if not torch.is_tensor(value):
            raise TypeError(f'{src}: {key} is a {type(value).__name__}, '
                            'expected a tensor')
        # clone: a view must not drag its whole storage into the file
        backbone[name] = value.detach().cpu().clone()
    if not backbone:
        raise ValueError(f'{src}: no "{prefix}*" keys for the {network} '
                         f'backbone; found: {key_sample(state_dict)}')
    return backbone, dropped


def convert(src: str,
            dst: str,
            student: bool = False,
            prefix: bool = True,
            force: bool = False) -> dict:
    """Export one backbone of ``src`` to ``dst``; returns the file's meta."""
    check_paths(
        src,
        dst,
        force,
        expected='an MST runner checkpoint such as '
        'work_dirs/<config>/epoch_N.pth')
    network = 'student' if student else 'teacher'
    checkpoint = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    backbone, dropped = extract_backbone(checkpoint, src, network)
    run_meta = checkpoint.get('meta') or {}
    out_prefix = OUT_PREFIX if prefix else ''
    meta = dict(
        source=src if '://' in src else osp.abspath(src),
        network=network,
        epoch=run_meta.get('epoch'),
        iter=run_meta.get('iter'),
        experiment_name=run_meta.get('experiment_name'),
        dropped_keys=dropped,
        key_prefix=out_prefix,
        converter='mst_mm tools/model_converters/mst_to_backbone.py',
        mst_mm_version=mst_mm.__version__,
        **vit_summary(backbone))
    save_tensor_checkpoint({
        out_prefix + k: v
        for k, v in backbone.items()
    }, meta, dst)

    num_params = sum(v.numel() for v in backbone.values())
    print(f'Exported the {network} backbone of {src} '
          f'(epoch {meta["epoch"]}, iter {meta["iter"]}): {len(backbone)} '
          f'tensors, {num_params / 1e6:.2f}M values -> {dst}')
    print('Dropped (not in a plain VisionTransformer): ' +
          (', '.join(dropped) if dropped else 'nothing'))
    return meta


def main(argv=None) -> dict:
    args = parse_args(argv)
    return convert(
        args.src,
        args.dst,
        student=args.student,
        prefix=not args.no_prefix,
        force=args.force)


if __name__ == '__main__':
    main()
