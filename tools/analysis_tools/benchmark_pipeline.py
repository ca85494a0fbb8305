#!/usr/bin/env python
"""Time the input pipelines of a pre-training config on a folder of images.

Images per CPU-second (one thread, the process's CPU time, so a busy machine
does not skew it) of the config's two input paths, in alternating rounds:
``cpu`` (``train_pipeline``: every transform on the workers) and ``fast``
(``fast_train_pipeline``: decode, crop and flip; see
configs/pretrain/_base_/), and of ``dino``, a reference with official DINO's
augmentation (torchvision on PIL, as its ``DataAugmentationDINO``: the
baseline issue 11 measured, so the speed-up over it is measured here too,
not inferred). Then the fast path's device-side cost:
``MultiCropDataPreprocessor`` (augmentation + normalisation) against plain
normalisation, per batch of ``--batch`` images of the config's view sizes.
``--with-step`` also times an MST training step at ``--batch`` (as
tools/benchmark.py does) and reports the augmentation's share of it::

    python tools/analysis_tools/benchmark_pipeline.py data/imagenet/val \\
        --batch 64 --with-step
"""
import argparse
import copy
import os.path as osp
import statistics
import time

import torch

from mst_mm.utils.benchmarking import (add_benchmark_args,
                                       check_benchmark_args, device_label,
                                       image_files, run_in_child, time_calls,
                                       time_training_step, write_results)

# The two input paths: the config's pipeline of each.
PATHS = dict(cpu='train_pipeline', fast='fast_train_pipeline')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('images', metavar='DIR', help='a folder of images')
    add_benchmark_args(parser)
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='alternating passes over DIR per path')
    parser.add_argument(
        '--num-images',
        type=int,
        default=88,
        help='time the first N images of DIR and its subfolders, sorted '
        '(default 88, as the issue; 0: all)')
    parser.add_argument(
        '--with-step',
        action='store_true',
        help='also time an MST training step at --batch and report the '
        'device-side augmentation as a fraction of it')
    # The views are the config's (see config_view_sizes); these flags may
    # only restate them.
    parser.set_defaults(global_size=None, local_size=None, num_local=None)
    args = parser.parse_args(argv)
    if not osp.isdir(args.images):
        parser.error(f'{args.images}: not a directory')
    if args.num_images < 0:
        parser.error(f'--num-images {args.num_images}: must be >= 0')
    unset = [
        name for name in ('global_size', 'local_size', 'num_local')
        if getattr(args, name) is None
    ]
    for name in unset:  # check_benchmark_args checks the given ones
        setattr(args, name, 1)
    args = check_benchmark_args(parser, args)
    for name in unset:  # main() takes them from the config
        setattr(args, name, None)
    return args


def config_view_sizes(cfg):
    """The crop size of each view of the config's fast path (its
    ``MultiView`` step), e.g. [224, 224, 96, ..., 96]: the views the
    device-side augmentation, the DINO reference and the step all use.

    Raises:
        KeyError: the config lacks one of the two paths' pipelines."""
    for key in PATHS.values():
        if key not in cfg:
            raise KeyError(
                f'the config has no {key!r} (see '
                'configs/pretrain/_base_/datasets/mst_multicrop.py)')
    multi_view = [
        t for t in cfg.fast_train_pipeline if t.get('type') == 'MultiView'
    ]
    if len(multi_view) != 1:
        raise KeyError('the config\'s fast_train_pipeline has no MultiView '
                       'step to read the view sizes from')
    sizes = []
    for num, view in zip(multi_view[0].num_views, multi_view[0].transforms):
        crop = [t for t in view if t.type == 'RandomResizedCrop'][0]
        sizes += [crop.scale] * num
    return sizes


class DINOReferencePipeline:
    """Official DINO's multi-crop augmentation (its paper's Appendix and
    ``DataAugmentationDINO``), rebuilt from torchvision's transforms on PIL
    images: the baseline of issue 11's >= 4x target. Per image: 2 global
    224 px crops (scale 0.4-1, bicubic) and ``num_local`` 96 px ones (scale
    0.05-0.4), each flipped (p 0.5), colour-jittered (p 0.8; 0.4, 0.4, 0.2,
    0.1), greyed (p 0.2), blurred (radius 0.1-2; p 1.0 / 0.1 / 0.5) and for
    the second global view solarized (p 0.2), then turned into normalised
    float tensors. Only its cost is used, never its images."""

    def __init__(self, num_local: int = 8):
        import random

        from PIL import ImageFilter, ImageOps
        from torchvision import transforms as T

        def blur(p):
            return T.RandomApply([
                T.Lambda(lambda img: img.filter(
                    ImageFilter.GaussianBlur(random.uniform(0.1, 2.0))))
            ], p)

        solarize = T.RandomApply([T.Lambda(ImageOps.solarize)], 0.2)
        flip_jitter_grey = [
            T.RandomHorizontalFlip(0.5),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], 0.8),
            T.RandomGrayscale(0.2)
        ]
        to_tensor = [
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        ]
        bicubic = T.InterpolationMode.BICUBIC

        def view(size, scale, *extra):
            return T.Compose([
                T.RandomResizedCrop(size, scale, interpolation=bicubic),
                *flip_jitter_grey, *extra, *to_tensor
            ])

        self.views = [
            view(224, (0.4, 1.0), blur(1.0)),
            view(224, (0.4, 1.0), blur(0.1), solarize)
        ] + [view(96, (0.05, 0.4), blur(0.5))] * num_local

    def __call__(self, results: dict) -> dict:
        from PIL import Image
        with Image.open(results['img_path']) as img:
            img = img.convert('RGB')  # torchvision's ImageFolder loader
        results['crops'] = [view(img) for view in self.views]
        return results


def time_loader_paths(cfg, files, rounds):
    """Images per CPU-second of the CPU and fast paths' pipelines and of
    :class:`DINOReferencePipeline`, one thread, alternating passes over
    ``files``."""
    import cv2
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    init_default_scope('mmpretrain')
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    pipelines = {k: Compose(cfg[v]) for k, v in PATHS.items()}
    pipelines['dino'] = DINOReferencePipeline(len(config_view_sizes(cfg)) - 2)
    for pipeline in pipelines.values():  # warm-up: imports, caches
        pipeline(dict(img_path=files[0]))
    cpu_s = dict.fromkeys(pipelines, 0.)
    for _ in range(rounds):
        for name, pipeline in pipelines.items():
            start = time.process_time()
            for path in files:
                pipeline(dict(img_path=path))
            cpu_s[name] += time.process_time() - start
    return {
        name:
        dict(
            images=rounds * len(files),
            cpu_s=cpu_s[name],
            images_per_cpu_s=rounds * len(files) / cpu_s[name])
        for name in pipelines
    }


def time_device_side(args, cfg):
    """Median ms per batch of the fast path's preprocessor (augmentation and
    normalisation) and of normalisation alone, on random uint8 views of
    the configured sizes."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    init_default_scope('mmpretrain')
    pre_cfg = cfg.fast_data_preprocessor
    sizes = config_view_sizes(cfg)
    gen = torch.Generator().manual_seed(0)
    views = [
        torch.randint(
            0, 256, (args.batch, 3, s, s), dtype=torch.uint8,
            generator=gen).to(args.device) for s in sizes
    ]
    plain = {
        k: v
        for k, v in pre_cfg.items() if k in ('mean', 'std', 'to_rgb')
    }
    modules = dict(
        augment=MODELS.build(pre_cfg),
        normalise=MODELS.build(dict(type='SelfSupDataPreprocessor', **plain)))
    result = {}
    for name, module in modules.items():
        module.to(args.device)
        times = time_calls(
            lambda _: module(dict(inputs=views, data_samples=None), True),
            args.warmup, args.iters, args.device)
        result[name] = 1000 * statistics.median(times)
    return dict(
        batch_ms=result['augment'],
        normalise_ms=result['normalise'],
        augment_ms=result['augment'] - result['normalise'],
        views=sizes)


def main(argv=None):
    from mmengine.config import Config
    given = parse_args(argv)
    args = copy.copy(given)
    cfg = Config.fromfile(args.config)
    sizes = config_view_sizes(cfg)
    # The step of --with-step runs on the config's views too.
    views = dict(
        global_size=sizes[0], local_size=sizes[-1], num_local=len(sizes) - 2)
    for name, value in views.items():
        flag = getattr(given, name)
        if flag is not None and flag != value:
            raise ValueError(
                f'--{name.replace("_", "-")} {flag}: this benchmark times '
                f'the views of {args.config} ({name} {value}); change the '
                'config instead')
        setattr(args, name, value)
    files = image_files(args.images, args.num_images)
    loader = time_loader_paths(cfg, files, args.rounds)
    ratio = (
        loader['fast']['images_per_cpu_s'] / loader['cpu']['images_per_cpu_s'])
    over_dino = (
        loader['fast']['images_per_cpu_s'] /
        loader['dino']['images_per_cpu_s'])
    device_side = time_device_side(args, cfg)
    device = device_label(args.device)
    print(f'\ninput pipeline, {args.config}\n{len(files)} images in '
          f'{args.images}, {args.rounds} alternating rounds, one thread\n')
    print(f'{"path":<8}{"images/CPU-s":>14}')
    for name, r in loader.items():
        print(f'{name:<8}{r["images_per_cpu_s"]:>14.1f}')
    print(f'\nfast / cpu = {ratio:.2f} images per CPU core')
    print(f'fast / dino = {over_dino:.2f} (target >= 4)')
    print(f'\ndevice side, {device}, batch {args.batch}, median of '
          f'{args.iters}: {device_side["batch_ms"]:.1f} ms per batch '
          f'(augmentation {device_side["augment_ms"]:.1f} ms + '
          f'normalisation {device_side["normalise_ms"]:.1f} ms)')
    results = dict(
        loader=loader,
        fast_over_cpu=ratio,
        fast_over_dino=over_dino,
        device=device_side)
    if args.with_step:
        step = run_in_child(time_training_step, (args, 'mst'),
                            'the MST step benchmark')
        results['step_ms'] = step['step_ms']
        results['augment_over_step'] = (
            device_side['augment_ms'] / step['step_ms'])
        print(f'MST step {step["step_ms"]:.1f} ms: the augmentation is '
              f'{100 * results["augment_over_step"]:.1f}% of a step '
              '(target <= 5% on a GPU)')
    write_results(args.out, args, device=device, results=results)
    return results


if __name__ == '__main__':
    main()
