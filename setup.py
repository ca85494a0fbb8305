"""Install ``mst_mm``: ``pip install -e .``.

The stack it needs (mmcv 2.1.0 with ops built from source, in particular) is
set up by ``bash tools/setup_env.sh``; see the README. Versions come from
``requirements/pins.txt``, the single list of pins.
"""
import os.path as osp
import re
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# Kept by any torch the user already has (a CUDA build, for instance).
RELAXED = {'torch': 'torch>=2.0', 'torchvision': 'torchvision>=0.15'}
# Pinned for building mmcv (tools/build_mmcv.sh) or linting only; not needed
# at run time.
BUILD_ONLY = {'wheel', 'ninja', 'flake8', 'isort'}


def read_pins(path=osp.join(HERE, 'requirements', 'pins.txt')):
    """Return install_requires from the pins file (comments dropped)."""
    requires = []
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            name = re.split(r'[<>=!~;\[ ]', line, 1)[0]
            if name not in BUILD_ONLY:
                requires.append(RELAXED.get(name, line))
    return requires


def read_version():
    with open(osp.join(HERE, 'mst_mm', 'version.py')) as f:
        return re.search(r"__version__ = '(.+)'", f.read()).group(1)


setup(
    name='mst_mm',
    version=read_version(),
    description='MST (Masked Self-Supervised Transformer, NeurIPS 2021) '
    'as an OpenMMLab plugin for mmpretrain, mmdet and mmsegmentation',
    packages=find_packages(include=['mst_mm', 'mst_mm.*']),
    python_requires='>=3.8',
    install_requires=read_pins(),
    extras_require=dict(
        tests=['pytest'],
        # Cityscapes' *_labelTrainIds.png maps (mmseg's converter imports
        # it): pip install -e ".[cityscapes]", or MST_EXTRAS=cityscapes
        # with tools/setup_env.sh. See the README, "Data preparation".
        cityscapes=['cityscapesscripts']),
    zip_safe=False)
