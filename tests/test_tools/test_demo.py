"""tools/demo.py: the collapse signals it reports for each run."""
import json
import math

import pytest


def test_collapse_signals_are_final_entropies_over_ln_k(load_tool, tmp_path):
    demo = load_tool('demo')
    runs = [('MST', demo.MST_CONFIG, 'mst'),
            ('DINO', demo.DINO_CONFIG, 'dino')]
    log_k = math.log(256)  # K of the Fashion-MNIST configs
    for i, (_, _, sub) in enumerate(runs):
        folder = tmp_path / sub / '20260101_000000' / 'vis_data'
        folder.mkdir(parents=True)
        rows = [
            dict(teacher_entropy=0.9 * log_k, teacher_batch_entropy=log_k), *[
                dict(
                    teacher_entropy=(0.3 + 0.1 * i) * log_k,
                    teacher_batch_entropy=0.7 * log_k) for _ in range(3)
            ]
        ]
        (folder / 'scalars.json').write_text('\n'.join(
            json.dumps(r) for r in rows))
    signals = demo.collapse_signals(runs, str(tmp_path))
    assert signals['MST'] == pytest.approx(
        dict(entropy=0.3, batch_entropy=0.7))
    assert signals['DINO'] == pytest.approx(
        dict(entropy=0.4, batch_entropy=0.7))
