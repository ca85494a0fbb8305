"""The lint of setup.cfg (mmpretrain's habits: flake8, isort, yapf) holds
for the whole tree. Run the fixers with `isort .` and
`yapf -i -r mst_mm tools tests configs setup.py`."""
import subprocess
import sys

import pytest

CHECKS = {
    'flake8': ['-m', 'flake8', '.'],
    'isort': ['-m', 'isort', '--check-only', '--diff', '--quiet', '.'],
    'yapf': [
        '-m', 'yapf', '--diff', '-r', 'mst_mm', 'tools', 'tests', 'configs',
        'setup.py'
    ],
}


@pytest.mark.parametrize('tool', sorted(CHECKS))
def test_tree_is_lint_clean(repo_root, tool):
    result = subprocess.run([sys.executable, *CHECKS[tool]],
                            cwd=repo_root,
                            capture_output=True,
                            text=True,
                            timeout=600)
    findings = result.stdout.strip()
    assert result.returncode == 0 and not findings, (
        f'{tool} findings (fix them as the module docstring says):\n'
        f'{findings[:5000]}\n{result.stderr[-2000:]}')
