"""tools/benchmark.py runs and reports (no timing is asserted here)."""
import json
import os.path as osp
import subprocess
import sys

import pytest


@pytest.fixture
def run(tmp_path, repo_root, subprocess_env):
    """``run(args)``: tools/benchmark.py on CPU, 1 iteration; its saved
    JSON and its stdout."""

    def bench(args):
        out = str(tmp_path / 'bench.json')
        proc = subprocess.run([
            sys.executable,
            osp.join(repo_root, 'tools', 'benchmark.py'), *args, '--device',
            'cpu', '--iters', '1', '--warmup', '1', '--out', out
        ],
                              cwd=repo_root,
                              env=subprocess_env,
                              capture_output=True,
                              text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out) as f:
            return json.load(f), proc.stdout

    return bench


def test_training_step_benchmark_reports_every_variant(run):
    saved, stdout = run([
        '--config', 'tests/data/configs/mst_tiny.py', '--batch', '2',
        '--global-size', '32', '--local-size', '16', '--num-local', '2'
    ])
    assert set(saved['results']) == {'mst', 'mst-no-mask', 'dino'}
    for r in saved['results'].values():
        assert r['step_ms'] > 0 and r['peak_mib'] > 0
    assert set(saved['ratios']) == {'masker', 'mst_vs_dino'}
    assert 'masker cost: mst / mst-no-mask' in stdout


def test_inference_benchmark_covers_table1_backbones(run):
    saved, stdout = run(['--inference', '--batch', '1'])
    assert set(saved['results']) == {'DeiT-S', 'Swin-T'}
    assert all(r['images_per_s'] > 0 for r in saved['results'].values())
