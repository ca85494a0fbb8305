"""What ``tools/benchmark.py`` and
``tools/analysis_tools/benchmark_pipeline.py`` share: their common flags,
one measurement per child process, the timing loop, the device's name, the
JSON they write and the MST/DINO training step."""
import argparse
import inspect
import json
import multiprocessing as mp
import os
import os.path as osp
import resource
import statistics
import time
from typing import Callable, List, Optional

import torch

# The training-step variants, all built from one pre-training config.
VARIANTS = ('mst', 'mst-no-mask', 'dino')
# MST with one cheap speed lever each, measured against ``mst``: PyTorch's
# fused (single-kernel) AdamW, and the decoder's convolutions in
# channels-last memory format (what tensor-core convolutions want).
LEVERS = ('mst-fused-adamw', 'mst-channels-last')


def add_benchmark_args(parser: argparse.ArgumentParser,
                       batch_help: str = 'images per step (default 64)'):
    """The flags both benchmarks take: the config, the training step's
    views, the timing and the output."""
    parser.add_argument(
        '--config', default='configs/pretrain/mst_deit-s_300e.py')
    parser.add_argument('--batch', type=int, help=batch_help)
    parser.add_argument('--global-size', type=int, default=224)
    parser.add_argument('--local-size', type=int, default=96)
    parser.add_argument('--num-local', type=int, default=8)
    parser.add_argument(
        '--iters', type=int, default=20, help='timed steps per variant')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    parser.add_argument('--out', help='write the results as JSON here')


def check_benchmark_args(parser: argparse.ArgumentParser,
                         args: argparse.Namespace,
                         default_batch: int = 64) -> argparse.Namespace:
    """Fill in ``--batch`` and ``--device auto``; refuse what cannot run
    (``parser.error`` names the flag)."""
    if args.batch is None:
        args.batch = default_batch
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    for name in ('batch', 'iters', 'global_size', 'local_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def run_in_child(target: Callable, args, what: str):
    """``target(*args, queue)`` in a fresh (spawned) process, so that its
    peak memory and imports are its own; returns what it put on the
    queue.

    Raises:
        RuntimeError: the child failed (its traceback is on stderr).
    """
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f'{what} failed (exit code {proc.exitcode})')
    return queue.get()


def time_calls(call: Callable,
               warmup: int,
               iters: int,
               device,
               prepare: Optional[Callable] = None) -> List[float]:
    """Seconds of each of ``iters`` calls of ``call(prepare())`` after
    ``warmup`` untimed ones; ``prepare`` (the inputs) is not timed. On CUDA
    every call is synchronised and the peak memory statistics restart at the
    first timed call."""
    device = torch.device(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times = []
    for i in range(warmup + iters):
        if i == warmup and device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        inputs = prepare() if prepare is not None else None
        sync()
        start = time.perf_counter()
        call(inputs)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def device_label(device: str) -> str:
    """The GPU's name, or ``CPU (N threads)``."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'CPU ({torch.get_num_threads()} threads)'


def write_results(out: Optional[str], args: argparse.Namespace,
                  **content) -> None:
    """Write the flags and ``content`` as JSON to ``out`` (if given)."""
    if out:
        with open(out, 'w') as f:
            json.dump(dict(args=vars(args), **content), f, indent=2)


def image_files(folder: str, num_images: int = 0) -> List[str]:
    """The first ``num_images`` (0: all) images of ``folder`` and its
    subfolders, sorted: the files mmpretrain's ``CustomDataset`` would
    read (its extensions), so both pipeline benchmarks see the same images.

    Raises:
        FileNotFoundError: none there (the message names the folder).
    """
    from mmpretrain.datasets import CustomDataset
    extensions = inspect.signature(
        CustomDataset).parameters['extensions'].default
    files = sorted(
        osp.join(root, f)
        for root, _, names in os.walk(folder, followlinks=True) for f in names
        if f.lower().endswith(extensions))
    if not files:
        raise FileNotFoundError(
            f'{folder}: no images (looked for {", ".join(extensions)} in it '
            'and its subfolders)')
    return files[:num_images] if num_images else files


def optim_wrapper_for(optim_cfg, device: str):
    """``optim_cfg`` as it can run on ``device``: mmengine's
    ``AmpOptimWrapper`` needs a GPU, so on CPU it becomes a plain
    ``OptimWrapper`` (fp32, no loss scale). Changes ``optim_cfg`` in place
    and returns it."""
    if torch.device(device).type == 'cpu' and optim_cfg.get(
            'type') == 'AmpOptimWrapper':
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
        optim_cfg.type = 'OptimWrapper'
    return optim_cfg


def variant_model_cfg(cfg, variant: str):
    """The model config of a training-step variant (:data:`VARIANTS`,
    :data:`LEVERS`): ``mst`` as configured, ``mst-no-mask`` without the
    masker, ``dino`` also without the decoder and with DINO's BN-free head,
    ``mst-channels-last`` with the decoder in channels-last format
    (``mst-fused-adamw`` changes the optimizer, not the model)."""
    if variant not in VARIANTS + LEVERS:
        raise ValueError(f'unknown benchmark variant {variant!r}; expected '
                         f'one of {VARIANTS + LEVERS}')
    model = cfg.model
    if variant == 'mst-channels-last':
        if model.get('neck') is None:
            raise ValueError(
                f'benchmark variant {variant!r}: the config\'s model has no '
                'decoder (model.neck is None) to put in channels-last format')
        model.neck.channels_last = True
    if variant in ('mst-no-mask', 'dino'):
        model.masker = None
    if variant == 'dino':
        model.neck = None
        model.restore_weight = 0.
        model.head.use_bn = False
    return model


def build_training_step(args, variant: str):
    """Build ``variant``'s model and optimizer from ``args.config`` on
    ``args.device``; returns ``(step, views)``: ``step(views())`` is one
    training step (EMA + teacher forward + student forward/backward +
    per-parameter clipping + optimizer step) on fresh random views of the
    configured sizes; ``step.model`` and ``step.optim_wrapper`` are what it
    trains."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    from mst_mm.engine import register_per_parameter_clipping
    from mst_mm.utils import init_weights_quietly

    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(variant_model_cfg(cfg, variant))
    init_weights_quietly(model)
    model = revert_sync_batchnorm(model).to(device).train()
    optim_cfg = optim_wrapper_for(cfg.optim_wrapper.copy(), device)
    if variant == 'mst-fused-adamw':
        optim_cfg.optimizer.fused = True
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    register_per_parameter_clipping(optim_wrapper.optimizer, 3.0)
    # The model's schedules (EMA momentum, temperatures) read max_iters.
    MessageHub.get_current_instance().update_info('max_iters', 10**6)

    gen = torch.Generator(device=device).manual_seed(0)
    sizes = [args.global_size] * 2 + [args.local_size] * args.num_local

    def views():
        return [
            torch.randn(args.batch, 3, s, s, device=device, generator=gen)
            for s in sizes
        ]

    def step(inputs):
        with optim_wrapper.optim_context(model):
            losses = model.loss(inputs, None)
        optim_wrapper.update_params(
            sum(v for k, v in losses.items() if 'loss' in k))

    step.model, step.optim_wrapper = model, optim_wrapper  # to inspect
    return step, views


def time_training_step(args, variant: str, queue) -> None:
    """Time ``variant``'s training step (:func:`build_training_step`) in a
    child process (:func:`run_in_child`); puts the median/min step ms, the
    images per second, the peak memory (CUDA max allocated, or the
    process's peak RSS on CPU) and the step's model FLOPs
    (:func:`count_flops`, one more step after the timed ones) on
    ``queue``."""
    from mst_mm.utils.flops import count_flops
    step, views = build_training_step(args, variant)
    device = torch.device(args.device)
    times = time_calls(step, args.warmup, args.iters, device, views)
    if device.type == 'cuda':
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flops = count_flops(lambda: step(views()))
    queue.put(
        dict(
            variant=variant,
            step_ms=1000 * statistics.median(times),
            step_ms_min=1000 * min(times),
            peak_mib=peak_mib,
            gflop_per_step=flops / 1e9,
            images_per_s=args.batch / statistics.median(times)))


def time_interleaved_steps(args, variants, queue) -> None:
    """All ``variants`` in one child process, one step each in turn, the
    order rotating every iteration, so that a machine whose speed drifts
    (a shared one) slows both sides of each ratio alike. Puts
    ``{variant: dict(step_ms=[ms of each timed step], gflop_per_step=...)}``
    on ``queue``; no peak memory, as the variants share the process."""
    from mst_mm.utils.flops import count_flops
    variants = list(variants)
    built = {v: build_training_step(args, v) for v in variants}
    step_ms = {v: [] for v in variants}
    for i in range(args.warmup + args.iters):
        k = i % len(variants)
        for variant in variants[k:] + variants[:k]:
            step, views = built[variant]
            seconds = time_calls(step, 0, 1, args.device, views)[0]
            if i >= args.warmup:
                step_ms[variant].append(1000 * seconds)
    queue.put({
        v:
        dict(
            step_ms=step_ms[v],
            gflop_per_step=count_flops(lambda: step(views())) / 1e9)
        for v, (step, views) in built.items()
    })
