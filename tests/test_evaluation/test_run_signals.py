"""final_run_signals: a run's collapse signals at its end, from its logs."""
import json

import pytest

from mst_mm.evaluation import final_run_signals


def test_mean_of_the_last_logged_values_of_the_newest_log(tmp_path):
    old = tmp_path / '20260101_000000' / 'vis_data'
    new = tmp_path / '20260102_000000' / 'vis_data'
    for folder in (old, new):
        folder.mkdir(parents=True)
    (old /
     'scalars.json').write_text(json.dumps(dict(teacher_entropy=9.)) + '\n')
    rows = [
        dict(teacher_entropy=e, teacher_batch_entropy=2 * e, step=i)
        for i, e in enumerate((1., 2., 3., 4.))
    ]
    rows.insert(2, dict(lr=0.1))  # rows without signals are skipped
    (new / 'scalars.json').write_text('\n'.join(json.dumps(r)
                                                for r in rows) + '\n')

    signals = final_run_signals(str(tmp_path), num_last=3)
    assert signals == pytest.approx(
        dict(teacher_entropy=3., teacher_batch_entropy=6.))


def test_no_logs_no_signals(tmp_path):
    assert final_run_signals(str(tmp_path)) == {}
