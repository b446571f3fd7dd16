"""``import mmseg_code`` registers modules and changes nothing else in MMEngine, mmseg or torch (issue 15, item 1).

Each check runs twice in a fresh interpreter, without and with the import, and the two reports must be equal: the
identity of the functions the plugin used to replace (``LocalBackend.put``, ``CheckpointHook``'s methods, the
checkpoint loader's schemes, ``_load_checkpoint_to_model``, ``torch.load``, torch's safe globals, ...), and three
probes of behaviour — ``LocalBackend().put()`` through a symlink, ``put()`` over a 0600 file, and
``mmseg.apis.MMSegInferencer`` loading checkpoints when ``mmseg.apis`` is imported before the plugin.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SNAPSHOT = textwrap.dedent('''
    import hashlib, json, os, sys
    import torch, mmengine, mmseg, mmseg.apis
    import mmengine.runner.checkpoint as ckpt
    import mmengine.runner.runner as runner_mod
    from mmengine.fileio import LocalBackend
    from mmengine.hooks import CheckpointHook, Hook
    from mmengine.logging import HistoryBuffer, MessageHub
    from mmengine.runner import Runner
    if os.environ.get('WITH_PLUGIN') == '1':
        import mmseg_code  # noqa: F401

    def ident(obj):
        fn = getattr(obj, '__func__', obj)
        code = getattr(fn, '__code__', None)
        return [getattr(fn, '__module__', None), getattr(fn, '__qualname__', repr(fn)),
                hashlib.md5(code.co_code).hexdigest() if code is not None else None]

    def members(cls):
        return {k: ident(v) for k, v in sorted(vars(cls).items())
                if callable(v) or isinstance(v, (classmethod, staticmethod))}

    import mmengine.registry as mreg
    out = dict(
        local_backend=members(LocalBackend), checkpoint_hook=members(CheckpointHook), hook=members(Hook),
        runner=members(Runner), history_buffer=members(HistoryBuffer), message_hub=members(MessageHub),
        statistics=sorted(HistoryBuffer._statistics_methods),
        schemes={k: ident(v) for k, v in sorted(ckpt.CheckpointLoader._schemes.items())},
        ckpt_functions={n: ident(getattr(ckpt, n)) for n in ('_load_checkpoint_to_model', '_load_checkpoint',
                        'load_checkpoint', 'load_state_dict', 'save_checkpoint', 'weights_to_cpu', 'load_from_local')},
        runner_functions={n: ident(getattr(runner_mod, n)) for n in ('_load_checkpoint_to_model', '_load_checkpoint',
                          'save_checkpoint')},
        torch_load=ident(torch.load), torch_save=ident(torch.save),
        safe_globals=sorted(str(ident(g[0] if isinstance(g, tuple) else g))
                            for g in torch.serialization.get_safe_globals()),
        torch_state=[torch.get_num_threads(), str(torch.get_default_dtype()),
                     torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
                     torch.backends.cudnn.deterministic, os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')],
        mmengine_registries={n: sorted(getattr(mreg, n).module_dict) for n in dir(mreg)
                             if isinstance(getattr(mreg, n), mreg.Registry)},
        inferencer=members(mmseg.apis.MMSegInferencer),
    )
    print('SNAPSHOT' + json.dumps(out, sort_keys=True))
''')

PROBES = textwrap.dedent('''
    import json, os, stat, sys, tempfile
    import mmseg.apis                         # imported before the plugin, as a user's script may
    import numpy as np, torch
    from mmengine.fileio import LocalBackend
    from mmengine.logging import HistoryBuffer
    if os.environ.get('WITH_PLUGIN') == '1':
        import mmseg_code  # noqa: F401
    d = tempfile.mkdtemp()
    out = {}
    # 1. put() through a symlink: is the link kept, which file has the new content?
    target, link = os.path.join(d, 'target.pth'), os.path.join(d, 'link.pth')
    open(target, 'wb').write(b'old')
    os.symlink(target, link)
    LocalBackend().put(b'new', link)
    out['symlink'] = [os.path.islink(link), open(target, 'rb').read().decode(), open(link, 'rb').read().decode()]
    # 2. put() over a 0600 file: its mode afterwards
    private = os.path.join(d, 'private.pth')
    open(private, 'wb').write(b'old')
    os.chmod(private, 0o600)
    LocalBackend().put(b'new', private)
    out['mode'] = oct(stat.S_IMODE(os.stat(private).st_mode))
    # 3. MMSegInferencer with a stock mmseg model: a plain checkpoint and one with a HistoryBuffer (what a stock
    #    Runner writes) -- loads or the refused global, identically with and without the plugin
    cfg = dict(model=dict(type='EncoderDecoder',
                          data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
                          backbone=dict(type='ResNetV1c', depth=18, stem_channels=4, base_channels=4, num_stages=1,
                                        strides=(1, ), dilations=(1, ), out_indices=(0, )),
                          decode_head=dict(type='FCNHead', in_channels=4, in_index=0, channels=4, num_convs=0,
                                           concat_input=False, num_classes=2),
                          test_cfg=dict(mode='whole')),
               test_dataloader=dict(dataset=dict(pipeline=[dict(type='LoadImageFromFile'),
                                                           dict(type='PackSegInputs')])),
               visualizer=dict(type='SegLocalVisualizer'), default_scope='mmseg')
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg['model'])
    sd = model.state_dict()
    plain, buffered = os.path.join(d, 'plain.pth'), os.path.join(d, 'buffered.pth')
    torch.save(dict(state_dict=sd, meta=dict(dataset_meta=dict(classes=('a', 'b'), palette=[[0, 0, 0], [1, 1, 1]]))),
               plain)
    torch.save(dict(state_dict=sd, meta=dict(dataset_meta=dict(classes=('a', 'b'), palette=[[0, 0, 0], [1, 1, 1]])),
                    message_hub=dict(log_scalars={'loss': HistoryBuffer([1.0], [1])})), buffered)
    for name, path in (('plain', plain), ('buffered', buffered)):
        try:
            inf = mmseg.apis.MMSegInferencer(Config(cfg), weights=path, device='cpu')
            pred = inf(np.zeros((8, 8, 3), np.uint8), return_datasamples=True)
            out['inferencer_' + name] = ['loaded', list(inf.model.dataset_meta['classes']),
                                         list(pred.pred_sem_seg.data.shape)]
        except Exception as e:  # noqa: BLE001
            out['inferencer_' + name] = ['refused', type(e).__name__, 'HistoryBuffer' in str(e), str(e)[-300:]]
    print('PROBES' + json.dumps(out, sort_keys=True))
''')


def _report(script: str, marker: str, with_plugin: bool, extra_env=None) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               WITH_PLUGIN='1' if with_plugin else '0', **(extra_env or {}))
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(marker)][-1]
    return json.loads(line[len(marker):])


def _diff(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_import_changes_no_mmengine_mmseg_or_torch_function():
    without, with_ = (_report(SNAPSHOT, 'SNAPSHOT', flag) for flag in (False, True))
    assert without['schemes'] and without['local_backend'] and without['checkpoint_hook']
    assert _diff(without, with_) == {}


@pytest.mark.parametrize('force_no_weights_only', [False, True])
def test_probes_behave_identically_with_and_without_the_plugin(force_no_weights_only):
    env = {'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'} if force_no_weights_only else {}
    without, with_ = (_report(PROBES, 'PROBES', flag, env) for flag in (False, True))
    assert _diff(without, with_) == {}
    assert without['inferencer_plain'][0] == 'loaded'
    # torch's default (weights_only=True) refuses the HistoryBuffer; the legacy default loads it
    assert without['inferencer_buffered'][0] == ('loaded' if force_no_weights_only else 'refused')
