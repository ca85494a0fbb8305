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

Two speed levers can be measured against ``mst`` (``--variants``):
``mst-fused-adamw`` (PyTorch's single-kernel AdamW) and
``mst-channels-last`` (the decoder in channels-last memory format).

One step = EMA update + teacher forward + student forward/backward +
per-parameter clipping + AdamW step, on random images of the configured
crop sizes (bf16 autocast on GPU, fp32 on CPU). Each variant runs in its own
process, so peak memory (CUDA max allocated, or the process's peak RSS on
CPU) is its own. ``--rounds R`` repeats the variants R times in rotating
order and reports the median of each round's ratios, so that a machine
whose speed drifts affects both sides of a ratio alike. On a machine whose
speed drifts within a minute (a shared CPU), ``--interleave steps`` runs
all variants in one process, one step each in turn, and reports the median
of the per-step ratios (no peak memory then). The step's model
FLOPs are counted (``mst_mm/utils/flops.py``) and, on a GPU of known
peak (or with ``--peak-tflops``), give the model FLOP utilisation. Example::

    python tools/benchmark.py --batch 64 --rounds 3    # GPU, the paper's crops
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

from mst_mm.utils.benchmarking import (LEVERS, VARIANTS, add_benchmark_args,
                                       check_benchmark_args, device_label,
                                       run_in_child, time_calls,
                                       time_interleaved_steps,
                                       time_training_step, write_results)
from mst_mm.utils.flops import peak_tflops

# Each ratio: (name, numerator, denominator, what it means, target).
RATIOS = (
    ('masker', 'mst', 'mst-no-mask', 'masker cost', '< 1.02'),
    ('mst_vs_dino', 'mst', 'dino', 'MST overhead', '< 1.15'),
    ('fused_adamw', 'mst-fused-adamw', 'mst', 'fused AdamW', '< 1: faster'),
    ('channels_last', 'mst-channels-last', 'mst', 'channels-last decoder',
     '< 1: faster'),
)

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
        '--variants',
        nargs='+',
        default=list(VARIANTS),
        choices=VARIANTS + LEVERS,
        help=f'default: {" ".join(VARIANTS)}')
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='interleaved repetitions of all variants (ratios: median '
        'over rounds)')
    parser.add_argument(
        '--interleave',
        choices=('processes', 'steps'),
        default='processes',
        help='alternate variants by process (each its own, with its peak '
        'memory; default) or by step (all in one process)')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        help='the device\'s dense bf16 peak for the MFU (default: known '
        'GPUs, see mst_mm/utils/flops.py)')
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
    if args.rounds < 1:
        parser.error(f'--rounds {args.rounds}: must be >= 1')
    if args.interleave == 'steps' and args.rounds > 1:
        parser.error(f'--rounds {args.rounds} with --interleave steps: the '
                     'steps alternate already; use --iters for more')
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error(f'--peak-tflops {args.peak_tflops}: must be > 0')
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


def run_rounds(args):
    """Every variant ``args.rounds`` times, each in its own child, the
    order rotating per round; returns {variant: [result per round]}."""
    variants = list(dict.fromkeys(args.variants))
    runs = {v: [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for variant in order:
            runs[variant].append(
                run_in_child(time_training_step, (args, variant),
                             f'benchmark of {variant!r} (round {r + 1})'))
    return runs


def run_interleaved_steps(args):
    """All variants in one child, alternating step by step; returns
    {variant: [result per timed step]}, as :func:`run_rounds` does per
    round."""
    variants = list(dict.fromkeys(args.variants))
    timed = run_in_child(time_interleaved_steps, (args, variants),
                         'interleaved benchmark of ' + ', '.join(variants))
    return {
        v: [
            dict(
                step_ms=ms, peak_mib=None, gflop_per_step=r['gflop_per_step'])
            for ms in r['step_ms']
        ]
        for v, r in timed.items()
    }


def summarise(args, runs, device):
    """Per variant: median step over the samples (rounds, or steps with
    ``--interleave steps``), worst peak memory, FLOPs and MFU; per ratio of
    :data:`RATIOS`: the median of the samples' ratios."""
    peak = args.peak_tflops
    if peak is None and args.device == 'cuda':
        peak = peak_tflops(device)
    results = {}
    for variant, rounds in runs.items():
        step_ms = statistics.median(r['step_ms'] for r in rounds)
        peaks = [r['peak_mib'] for r in rounds if r['peak_mib'] is not None]
        tflops = rounds[0]['gflop_per_step'] / step_ms  # GFLOP/ms = TFLOP/s
        results[variant] = dict(
            variant=variant,
            step_ms=step_ms,
            step_ms_samples=[r['step_ms'] for r in rounds],
            peak_mib=max(peaks) if peaks else None,
            images_per_s=args.batch * 1000 / step_ms,
            gflop_per_step=rounds[0]['gflop_per_step'],
            achieved_tflops=tflops,
            mfu=tflops / peak if peak else None)
    ratios, spread = {}, {}
    for name, num, den, _, _ in RATIOS:
        if num in runs and den in runs:
            samples = [
                a['step_ms'] / b['step_ms']
                for a, b in zip(runs[num], runs[den])
            ]
            ratios[name] = statistics.median(samples)
            # The quartiles say whether a difference is resolved at all.
            spread[name] = (
                statistics.quantiles(samples, n=4, method='inclusive')[::2]
                if len(samples) > 1 else [samples[0]] * 2)
    return results, ratios, spread, peak


def main(argv=None):
    args = parse_args(argv)
    if args.inference:
        return main_inference(args)
    device = device_label(args.device)
    runs = (
        run_interleaved_steps(args)
        if args.interleave == 'steps' else run_rounds(args))
    results, ratios, spread, peak = summarise(args, runs, device)
    print(f'\nMST training step, {args.config}\n{device}, batch '
          f'{args.batch}, 2 x {args.global_size}px + {args.num_local} x '
          f'{args.local_size}px, median of {args.iters} steps, ' +
          ('interleaved step by step\n' if args.interleave ==
           'steps' else f'{args.rounds} round(s)\n'))
    print(f'{"variant":<19}{"step (ms)":>11}{"im/s":>9}{"peak MiB":>10}'
          f'{"GFLOP":>9}{"TFLOP/s":>9}{"MFU":>7}')
    for r in results.values():
        mfu = f'{100 * r["mfu"]:.1f}%' if r['mfu'] is not None else '-'
        peak_mib = f'{r["peak_mib"]:.0f}' if r['peak_mib'] else '-'
        print(f'{r["variant"]:<19}{r["step_ms"]:>11.1f}'
              f'{r["images_per_s"]:>9.1f}{peak_mib:>10}'
              f'{r["gflop_per_step"]:>9.1f}{r["achieved_tflops"]:>9.3f}'
              f'{mfu:>7}')
    if peak is None:
        print('MFU: no peak known for this device (--peak-tflops)')
    print()
    for name, num, den, what, target in RATIOS:
        if name in ratios:
            low, high = spread[name]
            print(f'{what}: {num} / {den} = {ratios[name]:.3f} '
                  f'(quartiles {low:.3f}-{high:.3f}; target {target})')
    write_results(
        args.out,
        args,
        device=device,
        peak_tflops=peak,
        results=results,
        ratios=ratios,
        ratio_quartiles=spread)
    return results, ratios


if __name__ == '__main__':
    main()
