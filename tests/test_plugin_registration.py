"""The plugin registers like an mmseg project and leaves mmseg's own registries intact."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config

ROOT = pathlib.Path(__file__).parents[1]

REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'DATA_SAMPLERS', 'LOOPS', 'VISUALIZERS')

_SNAPSHOT = textwrap.dedent('''
    import json, sys
    import mmseg.registry as R
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import mmseg.apis, mmseg.visualization  # everything of mmseg's own is registered before the plugin
    def snap():
        out = {}
        for name in %r:
            reg = getattr(R, name)
            out[name] = {k: f"{v.__module__}.{v.__qualname__}" for k, v in reg.module_dict.items()}
            out[name + '_parent'] = sorted(reg.parent.module_dict) if reg.parent is not None else []
        return out
    before = snap()
    import mmseg_code
    after = snap()
    json.dump(dict(before=before, after=after), sys.stdout)
''' % (REGISTRIES, ))


@pytest.fixture(scope='module')
def snapshots():
    out = subprocess.run([sys.executable, '-c', _SNAPSHOT], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout)


def test_import_overrides_no_mmseg_or_mmengine_name(snapshots):
    before, after = snapshots['before'], snapshots['after']
    added = {}
    for name in REGISTRIES:
        for key, target in before[name].items():
            assert after[name][key] == target, f'{name}.{key} was overridden by mmseg_code'
        new = set(after[name]) - set(before[name])
        # A plugin name equal to an mmengine (parent registry) name would shadow it inside mmseg scope.
        shadowed = new & set(before[name + '_parent'])
        assert not shadowed, f'{name}: plugin names shadow mmengine modules {sorted(shadowed)}'
        added[name] = new
        for key in new:
            assert after[name][key].startswith('mmseg_code.'), (name, key, after[name][key])
    assert 'OpenCLIP' in added['MODELS']


def test_custom_imports_config_builds_plugin_modules(tmp_path):
    cfg_file = tmp_path / 'plugin_cfg.py'
    cfg_file.write_text(textwrap.dedent('''
        custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)
        default_scope = 'mmseg'
        clip = dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16')
    '''))
    code = textwrap.dedent(f'''
        import sys
        from mmengine.config import Config
        from mmseg.registry import MODELS
        cfg = Config.fromfile({str(cfg_file)!r})   # imports mmseg_code through custom_imports
        assert 'mmseg_code' in sys.modules
        clip = MODELS.build(cfg.clip)
        print(type(clip).__module__, clip.embed_dim)
    ''')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ['mmseg_code.models.clip.open_clip_model', '64']


def test_stock_mmseg_model_still_builds():
    import mmseg_code  # noqa: F401
    import mmseg
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    base = os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'configs', '_base_', 'models', 'fcn_r50-d8.py')
    cfg = Config.fromfile(base)
    cfg.model.pop('data_preprocessor', None)
    # Small variant of the stock FCN/ResNet so the test stays fast; the module types are mmseg's own.
    cfg.model.backbone.update(depth=18, norm_cfg=dict(type='BN', requires_grad=True))
    cfg.model.decode_head.update(in_channels=512, channels=32, norm_cfg=dict(type='BN', requires_grad=True))
    cfg.model.auxiliary_head.update(in_channels=256, channels=16, norm_cfg=dict(type='BN', requires_grad=True))
    model = MODELS.build(cfg.model)
    assert type(model).__module__.startswith('mmseg.models')
    out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 19, 8, 8)
