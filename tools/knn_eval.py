#!/usr/bin/env python
"""Weighted k-NN evaluation of a pre-trained backbone (MST Appendix D).

The training split is the memory bank, the validation split the queries;
features are the backbone's cls token (L2-normalised inside the classifier),
votes are weighted by exp(cosine / T), T = 0.07, for k in {10, 20, 100, 200}.
Data, pipeline, k and T come from the config's ``knn_evaluation`` dict (see
configs/pretrain/_base_/datasets/imagenet_multicrop.py). Runs in batches,
across processes (``--launcher pytorch`` / tools/dist_knn.sh), with a
progress bar; the similarity is computed a chunk of queries at a time, never
N x N.

    python tools/knn_eval.py CONFIG CHECKPOINT            # teacher backbone
    python tools/knn_eval.py CONFIG CHECKPOINT --network student
    python tools/knn_eval.py CONFIG random                # untrained backbone
    python tools/knn_eval.py CONFIG none --features raw-pixels
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.dist import is_main_process
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.evaluation import (bank_ks, build_knn_dataloaders, evaluate_knn,
                               knn_backbone, knn_settings)
from mst_mm.utils import init_weights_quietly
from mst_mm.utils.checkpoint_coverage import load_checkpoint_checked
from mst_mm.utils.launcher import finish_distributed
from mst_mm.utils.tool_args import (add_cfg_options, add_launcher,
                                    init_distributed, is_trained, load_config,
                                    set_local_rank)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Weighted k-NN evaluation')
    parser.add_argument('config', help='pre-training config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or "random" for an untrained backbone '
        '("none" with --features raw-pixels)')
    parser.add_argument(
        '--network',
        choices=['teacher', 'student'],
        default='teacher',
        help='which backbone of an MST/DINO model (default: teacher)')
    parser.add_argument(
        '--features',
        choices=['backbone', 'raw-pixels'],
        default='backbone',
        help='raw-pixels: the normalised images themselves, a reference')
    parser.add_argument('--ks', type=int, nargs='+', help='override k')
    parser.add_argument('--temperature', type=float, help='override T')
    parser.add_argument('--out', help='write the metrics as JSON here')
    add_cfg_options(parser)
    add_launcher(parser)
    return set_local_rank(parser.parse_args(argv))


def build_feature_model(cfg, args):
    from mmpretrain.registry import MODELS

    # A "random" backbone is reproducible: the config's seed (or 0).
    set_random_seed(cfg.get('randomness', {}).get('seed', None) or 0)
    model = MODELS.build(cfg.model)
    if args.features == 'raw-pixels':
        return model, None
    if not is_trained(args.checkpoint, 'backbone'):
        init_weights_quietly(model)
    else:
        load_checkpoint_checked(
            model,
            args.checkpoint,
            what=f'the model of {args.config} ({cfg.model.type})')
    return model, knn_backbone(model, args.network)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    knn_cfg = cfg.get('knn_evaluation', None)
    if knn_cfg is None:
        raise KeyError(f'{args.config} has no `knn_evaluation` dict (data '
                       'loaders of the memory bank and the queries, ks, '
                       'temperature); see configs/pretrain/_base_/'
                       'datasets/imagenet_multicrop.py')
    ks, temperature = knn_settings(knn_cfg, args.ks, args.temperature,
                                   args.config)
    init_distributed(cfg, args.launcher)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
        device = torch.device('cuda', torch.cuda.current_device())

    model, backbone = build_feature_model(cfg, args)
    model.to(device).eval()

    what = 'raw-pixel' if backbone is None else f'{args.network} backbone'
    train_loader, val_loader = build_knn_dataloaders(knn_cfg, args.config)
    # Before extracting anything: a k the memory bank cannot serve.
    effective_ks = bank_ks(ks, len(train_loader.dataset), strict=bool(args.ks))
    metrics = evaluate_knn(model, backbone, train_loader, val_loader, ks,
                           temperature, device, what)

    if is_main_process():
        print(f'\nweighted k-NN ({what}, T={temperature}, '
              f'{len(train_loader.dataset)} train / '
              f'{len(val_loader.dataset)} queries):')
        for k in ks:
            top5 = metrics.get(f'k{k}_top5')
            used = effective_ks[k]
            note = (f'  (k={k} is more than the {used} images of the memory '
                    f'bank: all {used} vote)') if used != k else ''
            print(f'  k={k:<4d} top-1 {metrics[f"k{k}_top1"]:6.2f}' +
                  (f'  top-5 {top5:6.2f}' if top5 is not None else '') + note)
        if args.out:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            with open(args.out, 'w') as f:
                json.dump(
                    dict(
                        config=args.config,
                        checkpoint=args.checkpoint,
                        features=what,
                        temperature=temperature,
                        bank_size=len(train_loader.dataset),
                        effective_k={
                            f'k{k}': v
                            for k, v in effective_ks.items()
                        },
                        metrics=metrics),
                    f,
                    indent=2)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
