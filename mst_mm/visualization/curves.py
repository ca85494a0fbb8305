"""The training curves of an MST run, from mmengine's logged scalars."""
import json
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .layout import DPI

# Curves of `training_curves`: (title, keys, y label).
CURVE_PANELS = (
    ('loss_distill = lambda1 * CE (Eq. 2)', ('loss_distill', ), 'nats'),
    ('distill_kl = KL(teacher || student) = CE - teacher entropy', ('kl', ),
     'nats'),
    ('loss_restore = lambda2 * L1 (Eq. 9)', ('loss_restore', ), ''),
    ('teacher entropies (collapse signals)',
     ('teacher_entropy', 'teacher_batch_entropy'), 'nats'),
    ('mask_ratio (masked fraction of the global views)', ('mask_ratio', ), ''),
    ('loss (total)', ('loss', ), ''),
)
CURVES_FIGSIZE = (12., 6.5)  # inches at DPI: 1200 x 650 pixels


def read_scalars(scalars_json_path: str) -> List[dict]:
    """The training rows (those with a ``loss``) of mmengine's
    ``vis_data/scalars.json``, one JSON object per line."""
    if not osp.isfile(scalars_json_path):
        raise FileNotFoundError(
            f'training_curves: {scalars_json_path!r} does not exist (it is '
            'written by mmengine\'s LocalVisBackend as '
            '<work_dir>/<timestamp>/vis_data/scalars.json)')
    rows = []
    with open(scalars_json_path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{scalars_json_path}, line {number}: not '
                                 f'JSON ({e})') from None
            if isinstance(row, dict) and 'loss' in row and 'step' in row:
                rows.append(row)
    if not rows:
        raise ValueError(
            f'training_curves: {scalars_json_path!r} holds no training row '
            '(no line with "loss" and "step"); has an iteration been logged?')
    return rows


def training_curves(scalars_json_path: str) -> dict:
    """The signals MST logs, against the iteration: ``loss_distill``, its
    controllable part KL(teacher || student) = ``loss_distill -
    teacher_entropy`` (exact with lambda1 = 1, the cross-entropy itself
    rises early while centering and the temperature warm-up raise the
    teacher's entropy), ``loss_restore``, ``teacher_entropy`` and
    ``teacher_batch_entropy`` (collapse signals), ``mask_ratio`` and the
    total ``loss``. A signal the run did not log is marked so.

    Args:
        scalars_json_path (str): mmengine's ``vis_data/scalars.json``.

    Returns:
        dict: ``picture`` (RGB uint8, 650 x 1200) and ``series``: for each
        key, (iterations, values) as lists.
    """
    rows = read_scalars(scalars_json_path)
    series: Dict[str, Tuple[list, list]] = {}
    keys = {k for _, ks, _ in CURVE_PANELS for k in ks} - {'kl'}
    for key in sorted(keys):
        points = [(r['step'], r[key]) for r in rows if key in r]
        if points:
            series[key] = ([p[0] for p in points], [p[1] for p in points])
    # MST logs the KL itself (distill_kl); older logs only have its parts.
    kl = [(r['step'], r['distill_kl']) for r in rows if 'distill_kl' in r] \
        or [(r['step'], r['loss_distill'] - r['teacher_entropy'])
            for r in rows if 'loss_distill' in r and 'teacher_entropy' in r]
    if kl:
        series['kl'] = ([p[0] for p in kl], [p[1] for p in kl])

    fig = Figure(
        figsize=CURVES_FIGSIZE,
        dpi=DPI,
        facecolor='white',
        layout='constrained')
    FigureCanvasAgg(fig)
    run = osp.basename(
        osp.dirname(osp.dirname(osp.abspath(scalars_json_path))))
    fig.suptitle(
        f'MST training signals, run {run} ({len(rows)} logged '
        'iterations)',
        fontsize=11)
    axes = fig.subplots(2, 3)
    for ax, (title, panel_keys, ylabel) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        drawn = False
        for key in panel_keys:
            if key in series:
                x, y = series[key]
                ax.plot(
                    x,
                    y,
                    marker='.' if len(x) < 50 else None,
                    label=key,
                    linewidth=1.2)
                drawn = True
        if not drawn:
            ax.text(
                0.5,
                0.5,
                'not logged by this run',
                ha='center',
                va='center',
                transform=ax.transAxes,
                fontsize=9,
                color='grey')
        elif len(panel_keys) > 1:
            ax.legend(fontsize=7)
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return dict(picture=picture, series=series)
