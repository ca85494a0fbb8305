"""The set-up's cold path, run on every CI run.

CI machines keep the built mmcv wheel in their cache, so the source download
and metadata step of ``tools/build_mmcv.sh`` would otherwise never run there:
that is how a broken fresh-machine install once passed CI. These tests run
that first stage from an empty cache in a scratch environment (about a
minute; nothing is compiled), and check that failures name their stage and
that an incomplete cache entry is never used.
"""
import os
import os.path as osp
import subprocess
import sys
import venv

import pytest


def _pins(repo_root):
    pins = {}
    with open(osp.join(repo_root, 'requirements', 'pins.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                pins[line.split('=')[0].split('<')[0]] = line
    return pins


@pytest.fixture
def build_mmcv(repo_root):
    """``build_mmcv(args, env=None, **kwargs)``: tools/build_mmcv.sh ARGS
    with ``env`` over this process's environment."""

    def run(args, env=None, **kwargs):
        return subprocess.run(
            ['bash',
             osp.join(repo_root, 'tools', 'build_mmcv.sh'), *args],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                **(env or {})
            },
            **kwargs)

    return run


def test_cold_fetch_prepares_mmcv_metadata_without_build_isolation(
        repo_root, tmp_path, build_mmcv):
    """Stage 1 of the mmcv build, exactly as the set-up runs it, from an
    empty wheel cache and an empty pip cache, in a fresh venv holding only
    the pinned build tools.

    ``PIP_CONSTRAINT`` forces ``setuptools>=82`` (no ``pkg_resources``) into
    any *isolated* build environment pip would create: the stage passes only
    because it prepares mmcv's metadata against the environment's own pinned
    setuptools. Put the isolated build back and this test fails with mmcv's
    ``No module named 'pkg_resources'``.
    """
    env_dir = tmp_path / 'venv'
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / 'bin' / 'python')
    pins = _pins(repo_root)
    empty_caches = dict(
        PIP_CACHE_DIR=str(tmp_path / 'pip-cache'),
        MST_WHEEL_CACHE=str(tmp_path / 'wheel-cache'))
    subprocess.run([
        python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
        pins['setuptools'], pins['wheel']
    ],
                   check=True,
                   env={
                       **os.environ,
                       **empty_caches
                   })
    newest = tmp_path / 'newest-setuptools.txt'
    newest.write_text('setuptools>=82\n')

    result = build_mmcv(
        [python, 'fetch', str(tmp_path / 'src')],
        env=dict(PIP_CONSTRAINT=str(newest), **empty_caches),
        timeout=600)

    log = (tmp_path / 'src' / 'fetch.log')
    assert result.returncode == 0, (
        result.stderr + (log.read_text() if log.exists() else ''))
    version = pins['mmcv'].split('==')[1]
    assert (tmp_path / 'src' / f'mmcv-{version}.tar.gz').is_file()
    assert not (tmp_path / 'wheel-cache').exists()


def test_failed_stage_names_itself_its_log_and_the_retry(tmp_path, build_mmcv):
    """An unreachable index: the build stops at its first stage, says which
    stage, which log to read and what to run, and adds nothing to the
    cache."""
    cache = tmp_path / 'cache'
    result = build_mmcv([sys.executable, 'wheel'],
                        env=dict(
                            MST_WHEEL_CACHE=str(cache),
                            PIP_CONFIG_FILE=os.devnull,
                            PIP_INDEX_URL='http://127.0.0.1:9/simple',
                            PIP_RETRIES='0',
                            PIP_DEFAULT_TIMEOUT='2'),
                        timeout=300)

    assert result.returncode != 0
    err = result.stderr
    assert "FAILED: stage 'fetch the mmcv" in err
    log = [
        line.split('read the log:')[1].strip() for line in err.splitlines()
        if 'read the log:' in line
    ]
    assert log and osp.isfile(log[0]) and log[0].startswith(str(cache))
    assert 'retry:' in err and 'tools/setup_env.sh' in err
    # Only the log folder: no cache entry, complete or partial.
    assert sorted(os.listdir(cache)) == ['logs']


def test_incomplete_cache_entry_is_never_used(tmp_path, build_mmcv):
    """A wheel counts only once its entry holds RECIPE (written after the
    wheel is complete); a left-over temporary build folder never counts."""
    env = dict(MST_WHEEL_CACHE=str(tmp_path))
    entry = build_mmcv([sys.executable, 'entry'], env=env).stdout.strip()
    assert entry.startswith(str(tmp_path))

    os.makedirs(entry + '.tmp.123')
    half = osp.join(entry + '.tmp.123', 'mmcv-2.1.0-cp311-cp311-linux.whl')
    open(half, 'w').close()
    assert build_mmcv([sys.executable, 'lookup'], env=env).stdout == ''

    os.makedirs(entry)
    wheel = osp.join(entry, 'mmcv-2.1.0-cp311-cp311-linux.whl')
    open(wheel, 'w').close()
    assert build_mmcv([sys.executable, 'lookup'], env=env).stdout == ''

    with open(osp.join(entry, 'RECIPE'), 'w') as f:
        f.write(build_mmcv([sys.executable, 'recipe'], env=env).stdout)
    assert build_mmcv([sys.executable, 'lookup'],
                      env=env).stdout.strip() == wheel


@pytest.mark.parametrize('change', [
    ('setuptools==80.9.0', 'setuptools==79.0.1'),
    ('ninja==1.11.1.4', 'ninja==1.13.0'),
    ('mmcv==2.1.0', 'mmcv==2.1.1'),
])
def test_changed_recipe_changes_the_cache_key(repo_root, tmp_path, change,
                                              build_mmcv):
    """The cache key covers the mmcv pin and the build-tool pins, so a
    changed recipe builds anew instead of reusing an old wheel."""
    old, new = change
    with open(osp.join(repo_root, 'requirements', 'pins.txt')) as f:
        text = f.read()
    assert old in text, f'{old} is no longer the pin: update this test'
    changed = tmp_path / 'pins.txt'
    changed.write_text(text.replace(old, new))

    key = build_mmcv([sys.executable, 'key']).stdout.strip()
    changed_key = build_mmcv([sys.executable, 'key'],
                             env=dict(MST_PINS=str(changed))).stdout.strip()
    assert len(key) == 12 and len(changed_key) == 12
    assert key != changed_key
