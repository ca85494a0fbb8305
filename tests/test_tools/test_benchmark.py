"""tools/benchmark.py and tools/analysis_tools/benchmark_{pipeline,
train_loader}.py run and report (no timing is asserted here)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

PIPELINE = 'analysis_tools/benchmark_pipeline'
PIPELINE_SCRIPT = f'tools/{PIPELINE}.py'


def run_tool(tool, args, repo_root, env):
    """``tools/<tool>.py ARGS``; its completed process."""
    return subprocess.run(
        [sys.executable,
         osp.join(repo_root, 'tools', f'{tool}.py'), *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)


@pytest.fixture
def run(tmp_path, repo_root, subprocess_env):
    """``run(args, tool='benchmark')``: the tool on CPU, 1 iteration unless
    ``args`` say otherwise (they come last); its saved JSON and stdout."""

    def bench(args, tool='benchmark'):
        out = str(tmp_path / 'bench.json')
        proc = run_tool(tool, [
            '--device', 'cpu', '--iters', '1', '--warmup', '1', '--out', out,
            *args
        ], repo_root, subprocess_env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out) as f:
            return json.load(f), proc.stdout

    return bench


def test_training_step_benchmark_reports_every_variant(run):
    saved, stdout = run([
        '--config', 'tests/data/configs/mst_tiny.py', '--batch', '2',
        '--global-size', '32', '--local-size', '16', '--num-local', '2',
        '--variants', 'mst', 'mst-no-mask', 'dino', 'mst-fused-adamw',
        'mst-channels-last', '--peak-tflops', '2.5'
    ])
    assert set(saved['results']) == {
        'mst', 'mst-no-mask', 'dino', 'mst-fused-adamw', 'mst-channels-last'
    }
    for r in saved['results'].values():
        assert r['step_ms'] > 0 and r['peak_mib'] > 0
        assert r['mfu'] == pytest.approx(r['achieved_tflops'] / 2.5)
    flops = {k: r['gflop_per_step'] for k, r in saved['results'].items()}
    # The levers change layouts and kernels, not the arithmetic; the mask
    # adds the cls-attention row, DINO drops the decoder.
    assert flops['mst-fused-adamw'] == flops['mst']
    assert flops['mst-channels-last'] == flops['mst']
    assert flops['dino'] < flops['mst-no-mask'] < flops['mst']
    assert set(saved['ratios']) == {
        'masker', 'mst_vs_dino', 'fused_adamw', 'channels_last'
    }
    assert 'masker cost: mst / mst-no-mask' in stdout
    assert 'fused AdamW: mst-fused-adamw / mst' in stdout


def test_rounds_interleave_the_variants_and_take_median_ratios(
        load_tool, monkeypatch):
    """Round r starts at variant r (rotating order); each ratio is the
    median of the rounds' own ratios, not a ratio of medians."""
    benchmark = load_tool('benchmark')
    calls = []
    step_ms = {
        'mst': [100., 300., 100.],
        'mst-no-mask': [50., 100., 100.],
        'dino': [100., 100., 100.]
    }

    def fake_child(target, args, what):
        variant = args[1]
        calls.append(variant)
        ms = step_ms[variant][sum(c == variant for c in calls) - 1]
        return dict(
            variant=variant, step_ms=ms, peak_mib=1., gflop_per_step=2.)

    monkeypatch.setattr(benchmark, 'run_in_child', fake_child)
    args = benchmark.parse_args(
        ['--device', 'cpu', '--rounds', '3', '--peak-tflops', '0.1'])
    runs = benchmark.run_rounds(args)
    assert calls == [
        'mst', 'mst-no-mask', 'dino', 'mst-no-mask', 'dino', 'mst', 'dino',
        'mst', 'mst-no-mask'
    ]
    results, ratios, spread, peak = benchmark.summarise(args, runs, 'CPU')
    assert ratios['masker'] == pytest.approx(2.)  # median of 2, 3, 1
    assert ratios['mst_vs_dino'] == pytest.approx(1.)  # median of 1, 3, 1
    # inclusive quartiles of 1, 2, 3: inside the data, even for 2 rounds
    assert spread['masker'] == pytest.approx([1.5, 2.5])
    assert results['mst']['step_ms'] == 100.
    assert results['mst']['achieved_tflops'] == pytest.approx(0.02)
    assert results['mst']['mfu'] == pytest.approx(0.2)
    assert peak == 0.1


def test_step_interleaving_runs_all_variants_in_one_process(run):
    """``--interleave steps``: one sample per timed step and variant, ratios
    from per-step pairs, FLOPs still counted, no peak memory."""
    saved, stdout = run([
        '--config', 'tests/data/configs/mst_tiny.py', '--batch', '2',
        '--global-size', '32', '--local-size', '16', '--num-local', '2',
        '--interleave', 'steps', '--iters', '3', '--variants', 'mst',
        'mst-no-mask'
    ])
    results = saved['results']
    assert set(results) == {'mst', 'mst-no-mask'}
    for r in results.values():
        assert len(r['step_ms_samples']) == 3 and r['peak_mib'] is None
        assert r['gflop_per_step'] > 0
    assert results['mst']['gflop_per_step'] > (
        results['mst-no-mask']['gflop_per_step'])
    pairs = [
        a / b for a, b in zip(results['mst']['step_ms_samples'],
                              results['mst-no-mask']['step_ms_samples'])
    ]
    assert saved['ratios']['masker'] == pytest.approx(sorted(pairs)[1])
    assert 'interleaved step by step' in stdout


def test_benchmark_refuses_bad_rounds_and_peak(load_tool, capsys):
    benchmark = load_tool('benchmark')
    for flags, message in ((['--rounds', '0'], '--rounds 0: must be >= 1'),
                           (['--peak-tflops',
                             '-1'], '--peak-tflops -1.0: must be > 0')):
        with pytest.raises(SystemExit):
            benchmark.parse_args(['--device', 'cpu', *flags])
        assert message in capsys.readouterr().err


def test_inference_benchmark_covers_table1_backbones(run):
    saved, stdout = run(['--inference', '--batch', '1'])
    assert set(saved['results']) == {'DeiT-S', 'Swin-T'}
    assert all(r['images_per_s'] > 0 for r in saved['results'].values())


@pytest.fixture
def jpeg_folder(tmp_path):
    """4 JPEGs of textured colour, 150 x 120 px."""
    import cv2
    import numpy as np
    folder = tmp_path / 'jpegs'
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:150]
    for i in range(4):
        img = 127 + 100 * np.sin(rng.uniform(0.05, 0.3) * (xx + i * yy))
        img = np.stack([img, img[::-1], img[:, ::-1]], -1)
        assert cv2.imwrite(str(folder / f'{i}.jpg'), img.astype(np.uint8))
    (folder / 'notes.txt').write_text('not an image')
    return str(folder)


def test_pipeline_benchmark_times_both_input_paths(run, jpeg_folder):
    saved, stdout = run([jpeg_folder, '--rounds', '1', '--batch', '1'],
                        tool=PIPELINE)
    loader = saved['results']['loader']
    assert set(loader) == {'cpu', 'fast', 'dino'}
    for r in loader.values():
        assert r['images'] == 4  # the text file is skipped
        assert r['images_per_cpu_s'] > 0
    assert saved['results']['fast_over_cpu'] == pytest.approx(
        loader['fast']['images_per_cpu_s'] / loader['cpu']['images_per_cpu_s'])
    assert saved['results']['fast_over_dino'] == pytest.approx(
        loader['fast']['images_per_cpu_s'] /
        loader['dino']['images_per_cpu_s'])
    device = saved['results']['device']
    assert device['views'] == [224, 224] + [96] * 8
    assert device['batch_ms'] > 0 and device['normalise_ms'] > 0
    assert 'fast / cpu =' in stdout


def test_dino_reference_pipeline_makes_dinos_ten_crops(load_tool, jpeg_folder):
    """The baseline the fast path is compared with does DINO's work: 2 x
    224 px + 8 x 96 px crops as normalised float tensors."""
    tool = load_tool(PIPELINE)
    crops = tool.DINOReferencePipeline(num_local=8)(
        dict(img_path=f'{jpeg_folder}/0.jpg'))['crops']
    assert [tuple(c.shape)
            for c in crops] == ([(3, 224, 224)] * 2 + [(3, 96, 96)] * 8)
    assert all(c.dtype == torch.float32 for c in crops)
    # Normalised with ImageNet's statistics: values around zero, not 0-1.
    assert min(c.min() for c in crops) < -0.5


def test_dino_reference_pipeline_has_dinos_parameters(load_tool):
    """DataAugmentationDINO's numbers, view by view: crop scales (bicubic),
    flip 0.5, jitter 0.8 of (0.4, 0.4, 0.2, 0.1), grey 0.2, blur 1.0 / 0.1
    / 0.5, solarize 0.2 on the second global view only."""
    from torchvision import transforms as T
    views = load_tool(PIPELINE).DINOReferencePipeline(num_local=8).views
    assert len(views) == 10

    def describe(view):
        out = []
        for t in view.transforms:
            if isinstance(t, T.RandomResizedCrop):
                out.append(('crop', t.size[0], t.scale, t.interpolation))
            elif isinstance(t, T.RandomHorizontalFlip):
                out.append(('flip', t.p))
            elif isinstance(t, T.RandomGrayscale):
                out.append(('grey', t.p))
            elif isinstance(t, T.RandomApply):
                inner = t.transforms[0]
                if isinstance(inner, T.ColorJitter):
                    out.append(('jitter', t.p, inner.brightness,
                                inner.contrast, inner.saturation, inner.hue))
                else:  # blur or solarize, told apart by their effect
                    out.append(('apply', t.p))
            elif isinstance(t, T.Normalize):
                out.append(('normalise', tuple(t.mean), tuple(t.std)))
        return out

    bicubic = T.InterpolationMode.BICUBIC
    jitter = ('jitter', 0.8, (0.6, 1.4), (0.6, 1.4), (0.8, 1.2), (-0.1, 0.1))
    norm = ('normalise', (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    common = [('flip', 0.5), jitter, ('grey', 0.2)]
    assert describe(views[0]) == [('crop', 224, (0.4, 1.0), bicubic), *common,
                                  ('apply', 1.0), norm]
    assert describe(views[1]) == [('crop', 224, (0.4, 1.0), bicubic), *common,
                                  ('apply', 0.1), ('apply', 0.2), norm]
    for view in views[2:]:
        assert describe(view) == [('crop', 96, (0.05, 0.4), bicubic), *common,
                                  ('apply', 0.5), norm]


def test_pipeline_benchmark_takes_images_from_subfolders_up_to_a_cap(
        load_tool, jpeg_folder, tmp_path):
    """A class-folder tree (ImageNet's train/) works; --num-images keeps a
    50,000-image folder from taking hours (the first N, sorted)."""
    import shutil
    tool = load_tool(PIPELINE)
    tree = tmp_path / 'tree'
    for cls in ('b', 'a'):
        shutil.copytree(jpeg_folder, tree / cls)
    files = tool.image_files(str(tree), 0)
    assert len(files) == 8 and files == sorted(files)
    assert tool.image_files(str(tree), 3) == files[:3]
    assert all('/a/' in f for f in files[:4])
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='empty: no images'):
        tool.image_files(str(tmp_path / 'empty'), 0)


def test_pipeline_benchmark_refuses_views_other_than_the_configs(
        load_tool, jpeg_folder):
    """The device side and the step both use the config's views; a flag
    that says otherwise would pair different work."""
    tool = load_tool(PIPELINE)
    with pytest.raises(ValueError, match='--num-local 2: this benchmark'):
        tool.main([jpeg_folder, '--num-local', '2', '--device', 'cpu'])


def test_pipeline_benchmark_refuses_a_config_without_the_fast_path(
        repo_root, subprocess_env, jpeg_folder):
    proc = run_tool(PIPELINE, [
        jpeg_folder, '--config', 'tests/data/configs/tiny_vit_2cls.py',
        '--device', 'cpu'
    ], repo_root, subprocess_env)
    assert proc.returncode != 0
    assert "the config has no 'train_pipeline'" in proc.stderr


def test_pipeline_flag_names_the_pipeline_tool(repo_root, subprocess_env,
                                               tmp_path):
    proc = run_tool('benchmark', ['--pipeline', str(tmp_path)], repo_root,
                    subprocess_env)
    assert proc.returncode == 2
    assert (f'python {PIPELINE_SCRIPT} {tmp_path} (same flags)' in proc.stderr)


LOADER = 'analysis_tools/benchmark_train_loader'


def test_train_loader_benchmark_trains_on_images_and_on_cached_samples(
        repo_root, subprocess_env, jpeg_folder, data_config, tmp_path):
    out = tmp_path / 'loader.json'
    work_dir = tmp_path / 'runs'
    proc = run_tool(LOADER, [
        data_config('mst_tiny.py'), jpeg_folder, '--batch', '2', '--workers',
        '1', '--iters', '2', '--rounds', '1', '--work-dir',
        str(work_dir), '--out',
        str(out)
    ], repo_root, subprocess_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads(out.read_text())
    assert saved['num_images'] == 4  # the text file is skipped
    assert saved['args']['warmup'] == 3  # default: workers + 2
    results = saved['results']
    for mode in ('real', 'synthetic'):
        assert len(results[mode]['images_per_s_per_round']) == 1
        assert results[mode]['images_per_s'] > 0
        assert results[mode]['data_time_s'] >= 0
    assert results['real_over_synthetic'] == pytest.approx(
        results['real']['images_per_s'] / results['synthetic']['images_per_s'])
    assert 'real / synthetic = ' in proc.stdout
    assert 'the workers queue up to 2 batches' in proc.stdout  # 1 x 2
    # Both runs trained on the folder, one through the cache, and saved no
    # checkpoint.
    for mode in ('real', 'synthetic'):
        dataset = Config.fromfile(work_dir / f'{mode}.py').train_dataloader
        dataset = dataset.dataset
        if mode == 'synthetic':
            assert dataset.type == 'CachedSampleDataset'
            assert dataset.num_cached == 2
            dataset = dataset.dataset
        # 4 images, repeated to (3 + 2) x 2 samples: one epoch of 5 batches
        assert (dataset.type, dataset.times) == ('RepeatDataset', 3)
        assert dataset.dataset.type == 'CustomDataset'
        assert dataset.dataset.data_root == jpeg_folder
        assert len(list((work_dir / f'{mode}_1').glob('*/vis_data'))) == 1
    assert not list(work_dir.rglob('*.pth'))
    assert not list(work_dir.rglob('last_checkpoint'))


def test_train_loader_benchmark_removes_its_temporary_runs(
        repo_root, subprocess_env, jpeg_folder, data_config, tmp_path):
    # Without --work-dir the runs go to a temporary folder, removed after.
    env = dict(subprocess_env, TMPDIR=str(tmp_path))
    proc = run_tool(LOADER, [
        data_config('mst_tiny.py'), jpeg_folder, '--batch', '4', '--workers',
        '0', '--iters', '1', '--warmup', '1', '--rounds', '1'
    ], repo_root, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'real / synthetic = ' in proc.stdout
    assert 'queue' not in proc.stdout  # no workers
    assert sorted(p.name for p in tmp_path.iterdir()) == ['jpegs']


@pytest.mark.parametrize('folder', ['missing', 'empty'])
def test_train_loader_benchmark_refuses_a_folder_without_images(
        repo_root, subprocess_env, data_config, tmp_path, folder):
    path = tmp_path / folder
    if folder == 'empty':
        path.mkdir()
        (path / 'notes.txt').write_text('not an image')
    proc = run_tool(
        LOADER,
        [data_config('mst_tiny.py'), str(path)], repo_root, subprocess_env)
    assert proc.returncode != 0
    expected = 'not a directory' if folder == 'missing' else 'no images'
    assert f'{path}: {expected}' in proc.stderr


def test_train_loader_benchmark_keeps_a_work_dir_with_content(
        repo_root, subprocess_env, jpeg_folder, data_config, tmp_path):
    (tmp_path / 'real.py').write_text('# mine')
    proc = run_tool(
        LOADER,
        [data_config('mst_tiny.py'), jpeg_folder, '--work-dir',
         str(tmp_path)], repo_root, subprocess_env)
    assert proc.returncode == 2
    assert f'--work-dir {tmp_path}: not empty' in proc.stderr
    assert (tmp_path / 'real.py').read_text() == '# mine'


def test_train_loader_benchmark_needs_the_train_dataset_pipeline(
        repo_root, subprocess_env, jpeg_folder, data_config):
    config = data_config('mst_tiny.py')
    proc = run_tool(LOADER, [
        config, jpeg_folder, '--cfg-options',
        'train_dataloader.dataset.pipeline=None'
    ], repo_root, subprocess_env)
    assert proc.returncode != 0
    assert (f"{config}: train_dataloader.dataset has no pipeline (a "
            "'CustomDataset')") in proc.stderr


def test_gpu_benchmark_script_refuses_bad_arguments(repo_root, tmp_path):
    """tools/analysis_tools/benchmark_gpu.sh (the GPU runs of every figure)
    checks its arguments before it starts anything."""
    script = osp.join(repo_root, 'tools/analysis_tools/benchmark_gpu.sh')

    def call(*args):
        return subprocess.run(['bash', script, *args],
                              cwd=repo_root,
                              capture_output=True,
                              text=True,
                              timeout=60)

    assert 'usage:' in call().stderr
    missing = call(str(tmp_path / 'nowhere'), str(tmp_path / 'out'))
    assert missing.returncode == 2
    assert 'nowhere is not a folder of images' in missing.stderr
    wrong = call(str(tmp_path), str(tmp_path / 'out'), 'step', 'speed')
    assert wrong.returncode == 2
    assert "unknown part 'speed'" in wrong.stderr
    assert not (tmp_path / 'out').exists()  # nothing ran, nothing written


def test_lever_variants_build_what_they_name():
    """``mst-fused-adamw`` steps a fused AdamW, ``mst-channels-last`` a
    decoder whose weights are NHWC; ``dino`` has no decoder to convert."""
    from argparse import Namespace

    from mmengine.config import Config

    from mst_mm.utils.benchmarking import (build_training_step,
                                           variant_model_cfg)
    args = Namespace(
        config='tests/data/configs/mst_tiny.py',
        device='cpu',
        batch=2,
        global_size=32,
        local_size=16,
        num_local=2)
    step, _ = build_training_step(args, 'mst-fused-adamw')
    assert step.optim_wrapper.optimizer.defaults['fused'] is True
    step, _ = build_training_step(args, 'mst-channels-last')
    assert step.model.neck.out_conv.weight.is_contiguous(
        memory_format=torch.channels_last)
    step, _ = build_training_step(args, 'mst')
    assert not step.optim_wrapper.optimizer.defaults.get('fused')
    assert step.model.neck.out_conv.weight.is_contiguous()

    cfg = Config.fromfile(args.config)
    assert variant_model_cfg(cfg, 'mst-channels-last').neck.channels_last
    variant_model_cfg(cfg, 'dino')  # in place: the decoder is gone
    with pytest.raises(ValueError, match='no decoder'):
        variant_model_cfg(cfg, 'mst-channels-last')


def test_gpu_benchmark_script_commands_parse_with_their_tools(
        repo_root, load_tool, jpeg_folder, tmp_path, monkeypatch):
    """Every command benchmark_gpu.sh would run (DRY_RUN=1 prints them)
    is accepted by its tool's own argument parser (on CPU: --device cuda
    read as cpu), so a renamed flag fails here, not on a rented GPU."""
    import shlex
    script = osp.join(repo_root, 'tools/analysis_tools/benchmark_gpu.sh')
    proc = subprocess.run([
        'bash', script, jpeg_folder,
        str(tmp_path / 'out'), 'step', 'mfu', 'pipeline', 'loader', 'inference'
    ],
                          cwd=repo_root,
                          env=dict(os.environ, DRY_RUN='1'),
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    commands = [shlex.split(line) for line in proc.stdout.splitlines()]
    assert [c[1] for c in commands] == [
        'tools/benchmark.py', 'tools/benchmark.py', PIPELINE_SCRIPT,
        'tools/analysis_tools/benchmark_train_loader.py', 'tools/benchmark.py'
    ]
    monkeypatch.chdir(repo_root)
    for command in commands:
        tool = load_tool(command[1][len('tools/'):-len('.py')])
        argv = ['cpu' if a == 'cuda' else a for a in command[2:]]
        args = tool.parse_args(argv)
        assert args.out.startswith(str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()
