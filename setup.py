"""mmseg-code: CoDe, TCL, MGCA and TSEG for MMSegmentation 1.x (an mmseg plugin).

Install with ``bash tools/bootstrap.sh`` (it installs torch and a compiled mmcv first), or, in an
environment that already has torch==2.14.1 and mmcv==2.1.0 with ops: ``pip install -e .[tests]``.
"""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` (comments and blank lines dropped)."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = [re.sub(r'\s+#.*$', '', line).strip() for line in f]
    return [line for line in lines if line and not line.startswith('#')]


def read_version() -> str:
    with open(osp.join(HERE, 'mmseg_code', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmseg-code',
    version=read_version(),
    description='Image-Text Co-Decomposition (CoDe), TCL, MGCA and TSEG as an MMSegmentation 1.x plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['mmseg_code', 'mmseg_code.*']),
    include_package_data=True,
    package_data={'mmseg_code': ['models/clip/model_configs/*.json', 'datasets/resources/*', 'py.typed']},
    install_requires=read_requirements('build') + read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
