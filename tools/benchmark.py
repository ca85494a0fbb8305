#!/usr/bin/env python
"""Time an MST training step and its peak memory against the DINO baseline.

Variants, all built from one pre-training config (default: the paper's
DeiT-S recipe):

- ``mst``: the config as it is (attention-guided mask + decoder).
- ``mst-no-mask``: the same without the masker, so the teacher does not
  compute its cls attention and no token is replaced. ``mst`` over this
  ratio is the masker's cost (target: < 1.02).
- ``dino``: no masker, no decoder, DINO's BN-free head: the baseline.
  ``mst`` over this ratio is MST's whole overhead (target: < 1.15).

One step = EMA update + teacher forward + student forward/backward +
per-parameter clipping + AdamW step, on random images of the configured
crop sizes (bf16 autocast on GPU, fp32 on CPU). Each variant runs in its own
process, so peak memory (CUDA max allocated, or the process's peak RSS on
CPU) is its own. Example::

    python tools/benchmark.py --batch 64            # GPU, the paper's crops
    python tools/benchmark.py --device cpu --batch 4 --num-local 2 --iters 5

``--inference`` instead measures the paper's Table 1 "im/s" column:
forward passes of the DeiT-S and Swin-T backbones on 224 x 224 images at
batch 128 (fp32, as the paper's V100 figures: DeiT-S 1007, Swin-T 755)::

    python tools/benchmark.py --inference

``--pipeline DIR`` instead measures the input pipeline on a folder of
images (JPEGs, e.g. ImageNet's): images per CPU-second (one thread, the
process's CPU time, so a busy machine does not skew it) of the config's two
input paths, in alternating rounds: ``cpu`` (``train_pipeline``: every
transform on the workers) and ``fast`` (``fast_train_pipeline``: decode,
crop and flip; see configs/pretrain/_base_/datasets/mst_multicrop.py).
Then the fast path's device-side cost: ``MultiCropDataPreprocessor``
(augmentation + normalisation) against plain normalisation, per batch of
``--batch`` images of the config's view sizes::

    python tools/benchmark.py --pipeline data/imagenet/val --batch 64
"""
import argparse
import json
import multiprocessing as mp
import os
import os.path as osp
import resource
import statistics
import time

import torch

VARIANTS = ('mst', 'mst-no-mask', 'dino')
# Table 1's backbones, as mmpretrain builds them.
INFERENCE_BACKBONES = {
    'DeiT-S':
    dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token'),
    'Swin-T':
    dict(type='SwinTransformer', arch='tiny', img_size=224, out_indices=(3, )),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config', default='configs/pretrain/mst_deit-s_300e.py')
    parser.add_argument(
        '--batch',
        type=int,
        help='images per step (default 64; 128 with '
        '--inference, as Table 1)')
    parser.add_argument('--global-size', type=int, default=224)
    parser.add_argument('--local-size', type=int, default=96)
    parser.add_argument('--num-local', type=int, default=8)
    parser.add_argument(
        '--iters', type=int, default=20, help='timed steps per variant')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    parser.add_argument(
        '--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        '--inference',
        action='store_true',
        help='time backbone inference (Table 1 im/s)')
    parser.add_argument(
        '--pipeline',
        metavar='DIR',
        help='time the input pipelines on the images in DIR')
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='--pipeline: alternating passes over DIR per path')
    parser.add_argument(
        '--with-step',
        action='store_true',
        help='--pipeline: also time an MST training step at --batch and '
        'report the device-side augmentation as a fraction of it')
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args(argv)
    if args.pipeline is not None and not osp.isdir(args.pipeline):
        parser.error(f'--pipeline {args.pipeline}: not a directory')
    if args.batch is None:
        args.batch = 128 if args.inference else 64
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    for name in ('batch', 'iters', 'global_size', 'local_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def variant_cfg(cfg, variant):
    model = cfg.model
    if variant in ('mst-no-mask', 'dino'):
        model.masker = None
    if variant == 'dino':
        model.neck = None
        model.restore_weight = 0.
        model.head.use_bn = False
    return model


def run_variant(args, variant, queue):
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    from mst_mm.engine import PerParameterGradClipHook
    from mst_mm.utils import init_weights_quietly

    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(variant_cfg(cfg, variant))
    init_weights_quietly(model)
    model = revert_sync_batchnorm(model).to(device).train()
    optim_cfg = cfg.optim_wrapper.copy()
    if device.type == 'cpu':  # AmpOptimWrapper needs a GPU
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
        optim_cfg.type = 'OptimWrapper'
    optim_wrapper = build_optim_wrapper(model, optim_cfg)

    class Runner:  # what the hook reads of a runner
        pass

    runner = Runner()
    runner.optim_wrapper = optim_wrapper
    PerParameterGradClipHook(3.0).before_train(runner)
    MessageHub.get_current_instance().update_info('max_iters', 10**6)

    gen = torch.Generator(device=device).manual_seed(0)

    def views():
        g = args.global_size
        s = args.local_size
        return ([
            torch.randn(args.batch, 3, g, g, device=device, generator=gen)
            for _ in range(2)
        ] + [
            torch.randn(args.batch, 3, s, s, device=device, generator=gen)
            for _ in range(args.num_local)
        ])

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times = []
    for i in range(args.warmup + args.iters):
        inputs = views()
        sync()
        start = time.perf_counter()
        with optim_wrapper.optim_context(model):
            losses = model.loss(inputs, None)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim_wrapper.update_params(loss)
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        if i == args.warmup - 1 and device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
    if device.type == 'cuda':
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        dict(
            variant=variant,
            step_ms=1000 * statistics.median(times),
            step_ms_min=1000 * min(times),
            peak_mib=peak_mib,
            images_per_s=args.batch / statistics.median(times)))


def run_inference(args, name, queue):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    device = torch.device(args.device)
    model = MODELS.build(INFERENCE_BACKBONES[name]).to(device)
    model.eval()
    size = args.global_size
    x = torch.randn(args.batch, 3, size, size, device=device)
    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.iters):
            if device.type == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    queue.put(
        dict(
            backbone=name,
            batch_ms=1000 * statistics.median(times),
            images_per_s=args.batch / statistics.median(times)))


def main_inference(args, ctx):
    results = {}
    for name in INFERENCE_BACKBONES:
        queue = ctx.Queue()
        proc = ctx.Process(target=run_inference, args=(args, name, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f'inference benchmark of {name} failed')
        results[name] = queue.get()
    device = torch.cuda.get_device_name() if args.device == 'cuda' \
        else f'CPU ({torch.get_num_threads()} threads)'
    print(f'\nbackbone inference, {device}, batch {args.batch}, '
          f'{args.global_size}px, median of {args.iters} batches\n')
    print(f'{"backbone":<10}{"batch (ms)":>12}{"im/s":>10}')
    for r in results.values():
        print(f'{r["backbone"]:<10}{r["batch_ms"]:>12.1f}'
              f'{r["images_per_s"]:>10.1f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(args=vars(args), device=device, results=results),
                f,
                indent=2)
    return results


IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def time_loader_paths(cfg, files, rounds):
    """Images per CPU-second of the CPU and fast paths' pipelines, one
    thread, alternating passes over ``files``."""
    import cv2
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    init_default_scope('mmpretrain')
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    paths = dict(cpu='train_pipeline', fast='fast_train_pipeline')
    for key in paths.values():
        if key not in cfg:
            raise KeyError(f'--pipeline: the config has no {key!r} (see '
                           'configs/pretrain/_base_/datasets/'
                           'mst_multicrop.py)')
    pipelines = {k: Compose(cfg[v]) for k, v in paths.items()}
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
    device = torch.device(args.device)
    pre_cfg = cfg.fast_data_preprocessor
    sizes = []
    for num, view in zip(cfg.fast_train_pipeline[1].num_views,
                         cfg.fast_train_pipeline[1].transforms):
        crop = [t for t in view if t.type == 'RandomResizedCrop'][0]
        sizes += [crop.scale] * num
    gen = torch.Generator().manual_seed(0)
    views = [
        torch.randint(
            0, 256, (args.batch, 3, s, s), dtype=torch.uint8,
            generator=gen).to(device) for s in sizes
    ]
    plain = {
        k: v
        for k, v in pre_cfg.items() if k in ('mean', 'std', 'to_rgb')
    }
    modules = dict(
        augment=MODELS.build(pre_cfg).to(device),
        normalise=MODELS.build(dict(type='SelfSupDataPreprocessor',
                                    **plain)).to(device))
    result = {}
    for name, module in modules.items():
        times = []
        for i in range(args.warmup + args.iters):
            if device.type == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            module(dict(inputs=views, data_samples=None), True)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        result[name] = 1000 * statistics.median(times)
    return dict(
        batch_ms=result['augment'],
        normalise_ms=result['normalise'],
        augment_ms=result['augment'] - result['normalise'],
        views=sizes)


def main_pipeline(args):
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    files = sorted(
        osp.join(args.pipeline, f) for f in os.listdir(args.pipeline)
        if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f'--pipeline {args.pipeline}: no images '
                                f'({", ".join(IMAGE_EXTENSIONS)})')
    loader = time_loader_paths(cfg, files, args.rounds)
    ratio = (
        loader['fast']['images_per_cpu_s'] / loader['cpu']['images_per_cpu_s'])
    device_side = time_device_side(args, cfg)
    device = torch.cuda.get_device_name() if args.device == 'cuda' \
        else f'CPU ({torch.get_num_threads()} threads)'
    print(f'\ninput pipeline, {args.config}\n{len(files)} images in '
          f'{args.pipeline}, {args.rounds} alternating rounds, one thread\n')
    print(f'{"path":<8}{"images/CPU-s":>14}')
    for name, r in loader.items():
        print(f'{name:<8}{r["images_per_cpu_s"]:>14.1f}')
    print(f'\nfast / cpu = {ratio:.2f} images per CPU core')
    print(f'\ndevice side, {device}, batch {args.batch}, median of '
          f'{args.iters}: {device_side["batch_ms"]:.1f} ms per batch '
          f'(augmentation {device_side["augment_ms"]:.1f} ms + '
          f'normalisation {device_side["normalise_ms"]:.1f} ms)')
    results = dict(loader=loader, fast_over_cpu=ratio, device=device_side)
    if args.with_step:
        ctx = mp.get_context('spawn')
        queue = ctx.Queue()
        proc = ctx.Process(target=run_variant, args=(args, 'mst', queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError('the MST step benchmark failed '
                               f'(exit code {proc.exitcode})')
        step = queue.get()
        results['step_ms'] = step['step_ms']
        results['augment_over_step'] = (
            device_side['augment_ms'] / step['step_ms'])
        print(f'MST step {step["step_ms"]:.1f} ms: the augmentation is '
              f'{100 * results["augment_over_step"]:.1f}% of a step '
              '(target <= 5% on a GPU)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(args=vars(args), device=device, results=results),
                f,
                indent=2)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.pipeline is not None:
        return main_pipeline(args)
    if args.inference:
        return main_inference(args, mp.get_context('spawn'))
    ctx = mp.get_context('spawn')
    results = {}
    for variant in args.variants:
        queue = ctx.Queue()
        proc = ctx.Process(target=run_variant, args=(args, variant, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f'benchmark of {variant!r} failed '
                               f'(exit code {proc.exitcode})')
        results[variant] = queue.get()

    device = torch.cuda.get_device_name() if args.device == 'cuda' \
        else f'CPU ({torch.get_num_threads()} threads)'
    print(f'\nMST training step, {args.config}\n{device}, batch '
          f'{args.batch}, 2 x {args.global_size}px + {args.num_local} x '
          f'{args.local_size}px, median of {args.iters} steps\n')
    print(f'{"variant":<13}{"step (ms)":>11}{"im/s":>9}{"peak MiB":>10}')
    for r in results.values():
        print(f'{r["variant"]:<13}{r["step_ms"]:>11.1f}'
              f'{r["images_per_s"]:>9.1f}{r["peak_mib"]:>10.0f}')
    ratios = {}
    if 'mst' in results and 'mst-no-mask' in results:
        ratios['masker'] = (
            results['mst']['step_ms'] / results['mst-no-mask']['step_ms'])
        print(f'\nmasker cost: mst / mst-no-mask = {ratios["masker"]:.3f} '
              '(target < 1.02)')
    if 'mst' in results and 'dino' in results:
        ratios['mst_vs_dino'] = (
            results['mst']['step_ms'] / results['dino']['step_ms'])
        print(f'MST overhead: mst / dino = {ratios["mst_vs_dino"]:.3f} '
              '(target < 1.15)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    args=vars(args),
                    device=device,
                    results=results,
                    ratios=ratios),
                f,
                indent=2)
    return results, ratios


if __name__ == '__main__':
    main()
