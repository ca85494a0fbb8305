"""tools/analysis_tools/plot_collapse_signals.py on hand-written logs."""
import json
import math

import pytest


def _scalars(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    return path


def test_signals_are_fractions_of_ln_k_and_the_plot_is_written(
        load_tool, tmp_path):
    tool = load_tool('analysis_tools/plot_collapse_signals')
    ln_k = math.log(64)
    healthy = _scalars(
        tmp_path / 'a' / '20260101' / 'vis_data' / 'scalars.json',
        [
            dict(
                iter=5,
                teacher_entropy=0.25 * ln_k,
                teacher_batch_entropy=0.9 * ln_k),
            dict(iter=10, lr=0.1),  # rows without signals
            dict(
                iter=15,
                teacher_entropy=0.2 * ln_k,
                teacher_batch_entropy=0.8 * ln_k),
        ])
    iters, entropy, batch = tool.collapse_signals(str(healthy), 64)
    assert iters == [5, 15]
    assert entropy == pytest.approx([0.25, 0.2])
    assert batch == pytest.approx([0.9, 0.8])
    # a work dir resolves to its scalars.json
    assert tool.scalars_file(str(tmp_path / 'a')) == str(healthy)

    out = tmp_path / 'signals.png'
    tool.main([
        str(tmp_path / 'a'),
        str(healthy), '--labels', 'x', 'y', '--num-classes', '64', '--out',
        str(out)
    ])
    assert out.stat().st_size > 1000


def test_bad_inputs_are_named(load_tool, tmp_path):
    tool = load_tool('analysis_tools/plot_collapse_signals')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        tool.scalars_file(str(tmp_path / 'nowhere'))
    no_signals = _scalars(tmp_path / 's.json', [dict(iter=1, loss=1.0)])
    with pytest.raises(ValueError, match='logs no teacher_entropy'):
        tool.collapse_signals(str(no_signals), 64)
    with pytest.raises(SystemExit, match='1 labels for 2 runs'):
        tool.main([
            str(no_signals),
            str(no_signals), '--labels', 'x', '--num-classes', '64', '--out',
            str(tmp_path / 'o.png')
        ])
