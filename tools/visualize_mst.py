#!/usr/bin/env python
"""Draw MST's pictures for a checkpoint of any MST config.

    python tools/visualize_mst.py CONFIG CHECKPOINT [--images 4] \
        [--out-dir DIR] [--work-dir RUN_DIR] [--which all]

Writes into ``--out-dir`` (default ``work_dirs/<config name>/pictures``):

- ``mst_masks.png``: the paper's Figure 2: input, the teacher's cls
  attention (Eq. 4), a random mask with the same expected masked fraction
  and the attention-guided mask (Eq. 5).
- ``mst_attention_heads.png``: Figure 3-like (Appendix L): the last block's
  cls attention of every head and their mean, for the checkpoint's teacher
  and for a randomly initialised backbone of the same config.
- ``mst_restoration.png``: the global image decoder's restorations of the
  masked views (Eq. 9).
- ``mst_training_curves.png``: the logged signals of the run in
  ``--work-dir`` (default ``work_dirs/<config name>``; its latest
  ``*/vis_data/scalars.json``).

The images are the first N of the config's ``knn_evaluation.val_dataloader``
dataset (resize and centre crop, one view), or the first global view of the
training data when that dataset is missing or cannot be built. CHECKPOINT
may be ``random`` (an untrained model); the curves alone need no model.
"""
import argparse
import os
import os.path as osp
from glob import glob

import torch
from mmengine.registry import init_default_scope

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.utils import init_weights_quietly
from mst_mm.utils.checkpoint_coverage import load_checkpoint_checked
from mst_mm.utils.tool_args import (add_cfg_options, default_work_dir,
                                    is_trained, load_config)
from mst_mm.visualization import (attention_and_masks, attention_maps_per_head,
                                  denormalise, restorations, save_picture,
                                  training_curves)
from mst_mm.visualization.probes import (first_views, require_mst,
                                         unavailable_pictures)

PICTURES = ('masks', 'attention', 'restoration', 'curves')
FILE_NAMES = dict(
    masks='mst_masks.png',
    attention='mst_attention_heads.png',
    restoration='mst_restoration.png',
    curves='mst_training_curves.png')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw MST pictures: masks (Figure 2), attention per '
        'head (Figure 3), restorations (Eq. 9), training curves')
    parser.add_argument('config', help='MST pre-training config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or "random" for an untrained '
        'model')
    parser.add_argument(
        '--images', type=int, default=4, help='number of images (rows)')
    parser.add_argument(
        '--out-dir',
        help='where the PNGs go (default: work_dirs/<config name>/pictures)')
    parser.add_argument(
        '--work-dir',
        help='the training run for the curves: the latest '
        '*/vis_data/scalars.json under it (default: work_dirs/<config '
        'name>)')
    parser.add_argument('--which', choices=('all', ) + PICTURES, default='all')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the masks and of the random backbone')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f'--images {args.images}: need at least 1')
    return args


def build_model(cfg, checkpoint, device):
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model)
    if not is_trained(checkpoint):
        init_weights_quietly(model)
    else:
        load_checkpoint_checked(
            model,
            checkpoint,
            what=f'the model of the config ({cfg.model.type})')
    require_mst(model, 'model.type in the config')
    return model.to(device).eval()


def _dataset_sources(cfg):
    knn = cfg.get('knn_evaluation', None)
    if knn is not None and knn.get('val_dataloader', None) is not None:
        yield 'knn_evaluation.val_dataloader', knn['val_dataloader']
    if cfg.get('train_dataloader', None) is not None:
        yield 'train_dataloader', cfg.train_dataloader


def load_images(cfg, model, num):
    """The first ``num`` images of the k-NN query set (one view), or else
    the first global view of the training data, normalised by the model's
    data preprocessor: (B, 3, H, W) on the model's device."""
    from mmpretrain.registry import DATASETS
    failures = []
    for where, loader in _dataset_sources(cfg):
        try:
            dataset = DATASETS.build(loader['dataset'])
            count = min(num, len(dataset))
            samples = [dataset[i] for i in range(count)]
        except Exception as e:  # missing data, bad paths: try the next one
            failures.append(f'{where}.dataset: {type(e).__name__}: {e}')
            print(f'cannot read images from {where}.dataset '
                  f'({type(e).__name__}: {e})')
            continue
        if count == 0:
            failures.append(f'{where}.dataset is empty')
            continue
        inputs = first_views(samples)
        sizes = {tuple(x.shape) for x in inputs}
        if len(sizes) > 1:
            failures.append(f'{where}: images of different sizes {sizes} '
                            '(the pipeline needs a fixed crop)')
            continue
        data = model.data_preprocessor(
            dict(
                inputs=torch.stack(inputs),
                data_samples=[s.get('data_samples') for s in samples]), False)
        if count < num:
            print(f'{where}.dataset has only {count} images')
        print(f'images: the first {count} of {where}.dataset')
        return data['inputs']
    raise FileNotFoundError('no images to draw: ' + (
        '; '.join(failures) if failures else 'the config has neither '
        'knn_evaluation.val_dataloader nor '
        'train_dataloader'))


def latest_scalars(work_dir):
    paths = sorted(glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not paths:
        raise FileNotFoundError(
            f'no training log to draw curves from: {work_dir!r} has no '
            '*/vis_data/scalars.json (pass the training run\'s directory '
            'with --work-dir)')
    return paths[-1]  # the timestamped run directories sort by time


def main(argv=None):
    args = parse_args(argv)
    which = PICTURES if args.which == 'all' else (args.which, )
    needs_model = any(w != 'curves' for w in which)
    cfg = load_config(args.config, args.cfg_options)
    # Before anything is built or drawn; the curves alone need no model.
    trained = needs_model and is_trained(args.checkpoint)
    out_dir = args.out_dir or osp.join(
        default_work_dir(args.config), 'pictures')
    work_dir = args.work_dir or cfg.get('work_dir', None) or default_work_dir(
        args.config)

    scalars = None
    if 'curves' in which:
        try:
            scalars = latest_scalars(work_dir)
        except FileNotFoundError as e:
            # Pictures of a checkpoint without its log are still useful.
            if args.which == 'curves' or args.work_dir is not None:
                raise
            print(f'skipping the training curves: {e}')
            which = tuple(w for w in which if w != 'curves')

    pictures = {}
    if needs_model:
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        model = build_model(cfg, args.checkpoint, args.device)
        for picture, reason in unavailable_pictures(model, which).items():
            if args.which == picture:
                raise ValueError(
                    f'--which {picture}: {args.config} has no such part '
                    f'({reason}, e.g. the DINO baseline)')
            print(f'skipping {FILE_NAMES[picture]}: {reason}')
            which = tuple(w for w in which if w != picture)
        images = load_images(cfg, model, args.images)
        if 'masks' in which:
            pictures['masks'] = attention_and_masks(
                model, images,
                torch.Generator().manual_seed(args.seed))['picture']
        if 'attention' in which:
            rows = {'teacher' if trained else 'random init': model}
            if trained:
                from mmpretrain.registry import MODELS
                torch.manual_seed(args.seed)
                untrained = MODELS.build(cfg.model)
                init_weights_quietly(untrained)
                rows['random init'] = untrained.to(args.device).eval()
            pictures['attention'] = attention_maps_per_head(
                rows, images, rgb=denormalise(model, images))['picture']
        if 'restoration' in which:
            pictures['restoration'] = restorations(
                model, images,
                torch.Generator().manual_seed(args.seed))['picture']
    if 'curves' in which:
        print(f'training log: {scalars}')
        pictures['curves'] = training_curves(scalars)['picture']

    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for picture in PICTURES:
        if picture in pictures:
            written[picture] = save_picture(
                pictures[picture], osp.join(out_dir, FILE_NAMES[picture]))
    for path in written.values():
        print(path)
    return written


if __name__ == '__main__':
    main()
