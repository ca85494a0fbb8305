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

The input pipeline has its own tool,
``tools/analysis_tools/benchmark_pipeline.py``.
"""
import argparse
import statistics

from mst_mm.utils.benchmarking import (VARIANTS, add_benchmark_args,
                                       check_benchmark_args, device_label,
                                       run_in_child, time_calls,
                                       time_training_step, write_results)

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
    add_benchmark_args(
        parser, 'images per step (default 64; 128 with --inference, as '
        'Table 1)')
    parser.add_argument(
        '--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        '--inference',
        action='store_true',
        help='time backbone inference (Table 1 im/s)')
    # The input-pipeline mode moved to its own tool.
    parser.add_argument('--pipeline', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pipeline is not None:
        parser.error('--pipeline: the input-pipeline benchmark is now '
                     'python tools/analysis_tools/benchmark_pipeline.py '
                     f'{args.pipeline} (same flags)')
    return check_benchmark_args(parser, args, 128 if args.inference else 64)


def run_inference(args, name, queue):
    """Forward passes of a Table 1 backbone; in a child process."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    model = MODELS.build(INFERENCE_BACKBONES[name]).to(args.device)
    model.eval()  # mmpretrain's backbones' train() returns None
    size = args.global_size
    x = torch.randn(args.batch, 3, size, size, device=args.device)
    with torch.no_grad():
        times = time_calls(lambda _: model(x), args.warmup, args.iters,
                           args.device)
    queue.put(
        dict(
            backbone=name,
            batch_ms=1000 * statistics.median(times),
            images_per_s=args.batch / statistics.median(times)))


def main_inference(args):
    results = {
        name:
        run_in_child(run_inference, (args, name),
                     f'inference benchmark of {name}')
        for name in INFERENCE_BACKBONES
    }
    device = device_label(args.device)
    print(f'\nbackbone inference, {device}, batch {args.batch}, '
          f'{args.global_size}px, median of {args.iters} batches\n')
    print(f'{"backbone":<10}{"batch (ms)":>12}{"im/s":>10}')
    for r in results.values():
        print(f'{r["backbone"]:<10}{r["batch_ms"]:>12.1f}'
              f'{r["images_per_s"]:>10.1f}')
    write_results(args.out, args, device=device, results=results)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.inference:
        return main_inference(args)
    results = {
        variant:
        run_in_child(time_training_step, (args, variant),
                     f'benchmark of {variant!r}')
        for variant in args.variants
    }
    device = device_label(args.device)
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
    write_results(
        args.out, args, device=device, results=results, ratios=ratios)
    return results, ratios


if __name__ == '__main__':
    main()
