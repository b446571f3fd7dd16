"""A user's own config inherits mmseg's bases through the ``mmseg::`` scope and builds with the plugin.

mmengine 0.10.7 finds ``mmseg::`` bases through ``pkg_resources``, which setuptools 82 removed: the runtime
requirements pin a setuptools that still ships it and that torch accepts.
"""
import importlib.metadata
import pathlib
import re
import textwrap

from mmengine.config import Config
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).parents[2]

USER_CONFIG = textwrap.dedent('''
    _base_ = ['mmseg::_base_/default_runtime.py']
    custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)
    pamr = dict(type='PAMR', num_iter=3, dilations=(1, 2))
''')


def test_user_config_inherits_mmseg_scope_and_builds(tmp_path):
    cfg_file = tmp_path / 'my_project_config.py'
    cfg_file.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(cfg_file))

    # the keys of mmseg 1.2.2's configs/_base_/default_runtime.py; a base taken from another package's scope
    # marks its top-level dicts that have a type with `_scope_`
    assert cfg.default_scope == 'mmseg'
    assert cfg.log_processor == dict(by_epoch=False)
    assert cfg.load_from is None and cfg.resume is False
    assert cfg.visualizer == dict(_scope_='mmseg', type='SegLocalVisualizer', name='visualizer',
                                  vis_backends=[dict(type='LocalVisBackend')])
    assert cfg.tta_model == dict(_scope_='mmseg', type='SegTTAModel')
    assert cfg.custom_imports.imports == ['mmseg_code']

    from mmseg.registry import MODELS, VISUALIZERS
    from mmseg.visualization import SegLocalVisualizer
    from mmseg_code.models.pamr import PAMR
    pamr = MODELS.build(cfg.pamr)
    assert isinstance(pamr, PAMR) and pamr.num_iter == 3 and pamr.dilations == (1, 2)
    vis = VISUALIZERS.build(dict(cfg.visualizer, name='user_config_scope_test', save_dir=str(tmp_path / 'vis')))
    assert isinstance(vis, SegLocalVisualizer)
    assert [type(b).__name__ for b in vis._vis_backends.values()] == ['LocalVisBackend']


def test_setuptools_pin_keeps_pkg_resources_and_fits_torch():
    text = (ROOT / 'requirements' / 'runtime.txt').read_text()
    pins = re.findall(r'^setuptools==(\S+)$', text, flags=re.M)
    assert len(pins) == 1
    pinned = Version(pins[0])
    assert pinned < Version('82')  # setuptools 82.0.0 is the first release without pkg_resources
    torch_wants = [Requirement(r) for r in importlib.metadata.requires('torch') or []]
    torch_wants = [r for r in torch_wants if r.name == 'setuptools' and (r.marker is None or r.marker.evaluate())]
    assert torch_wants, 'torch 2.14.1 declares a setuptools requirement'
    assert all(r.specifier.contains(pinned) for r in torch_wants)
