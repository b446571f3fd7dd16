"""``--cfg-options`` checked against the config before anything is built (issue 14, item 8): a misspelt key or a
value of the wrong kind is one line with a did-you-mean; legitimate new keys (class arguments) pass."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

import mmseg_code  # noqa: F401
from mmseg_code.utils import UserError, load_config
from mmseg_code.utils.cfg_options import check_cfg_options, init_arguments

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CODE_TINY = osp.join(ROOT, 'configs/code/code_tiny.py')


@pytest.fixture(scope='module')
def cfg():
    return load_config(CODE_TINY)


def _error(cfg, **options):
    opts = {k.replace('__', '.'): v for k, v in options.items()}
    with pytest.raises(UserError) as e:
        check_cfg_options(cfg, opts)
    msg = str(e.value)
    assert '\n' not in msg
    return msg


@pytest.mark.parametrize('option, value, message', [
    ('train_dataloader.batch_sze', 2,
     "train_dataloader (a DataLoader) has no key 'batch_sze'; did you mean 'batch_size' or 'batch_sampler'?"),
    ('modle.test_cfg.pamr', False, "the config (top level) has no key 'modle'; did you mean 'model'?"),
    ('load_stict', False, "the config (top level) has no key 'load_stict'; did you mean 'load_strict'?"),
    ('model.decode_head.decoder.n_layer', 2, "GatedDecoder has no key 'n_layer'; did you mean 'n_layers'?"),
    ('model.decode_head.unfreeze_iterr', 2,
     "ImageSegmenter has no key 'unfreeze_iterr'; did you mean 'unfreeze_iter'?"),
    ('optim_wrapper.optimizer.lrr', 0.1, "AdamW has no key 'lrr'; did you mean 'lr'?"),
    ('optim_wrapper.paramwise_cfg.norm_decay_mul', 0.0,
     "SummaryOptimWrapperConstructor's paramwise_cfg has no key 'norm_decay_mul'; did you mean 'norm_decay_mult' or "
     "'dwconv_decay_mult' or 'flat_decay_mult'?"),
    ('train_cfg.max_iter', 10, "IterBasedTrainLoop has no key 'max_iter'; did you mean 'max_iters' or 'val_interval'?"),
    ('default_hooks.checkpoint.intervall', 3, "CheckpointHook has no key 'intervall'; did you mean 'interval'?"),
    ('default_hooks.checkpont.interval', 3, "default_hooks has no entry 'checkpont'; did you mean 'checkpoint'? "
     '(a new entry needs a type: default_hooks.checkpont=dict(type=...))'),
    ('param_scheduler.5.end', 3, 'param_scheduler has 2 item(s), no index 5'),
    ('optim_wrapper.type', 'AmpOptimWraper', "'AmpOptimWraper' is not in the optim_wrapper registry; did you mean "
     "'AmpOptimWrapper' or 'ApexOptimWrapper' or 'OptimWrapper'?"),
    ('train_dataloader.batch_size', 'abc', "expects a number (now 4), got a string"),
    ('optim_wrapper.optimizer.lr', 'x', 'expects a number (now 0.001), got a string'),
    ('model.decode_head.unfreeze_iter', True, 'expects a number (now 20), got true/false'),
    # issue 14 item 5: the misspelt bg_thresh was ignored (same mIoU as the default); CoDe lists its test_cfg keys
    ('model.test_cfg.bg_thres', 0.9, "CoDe's test_cfg has no key 'bg_thres'; did you mean 'bg_thresh'?"),
])
def test_misspelt_key_or_wrong_kind_is_one_line(cfg, option, value, message):
    msg = _error(cfg, **{option.replace('.', '__'): value})
    assert msg.startswith(f'--cfg-options {option}') and msg.endswith(message), msg


def test_legitimate_options_pass(cfg):
    ok = {
        'train_dataloader.batch_size': 2,                    # exists, same kind
        'optim_wrapper.optimizer.lr': 1,                     # int for a float: both numbers
        'optim_wrapper.optimizer.amsgrad': True,             # new key: an argument of AdamW
        'optim_wrapper.clip_grad': None,                     # None replaces anything
        'model.decode_head.decoder.n_layers': 2,
        'model.type': 'TCL',                                 # registered in the same registry
        'param_scheduler.1.end': 3,
        'load_strict': False,                                # read by the tools
        'env_cfg.anything': 1,                               # free-form dict (no type, no listed keys)
        'train_dataloader.num_batch_per_epoch': 2,           # read by MMEngine's build_dataloader
        'train_dataloader.dataset.sources.urls': 'x/*.tar',
        'default_hooks.profiler': dict(type='ProfilerHook'),  # a new component with its own type
        'work_dir': 'somewhere',
    }
    for k, v in ok.items():
        check_cfg_options(cfg, {k: v})


def test_init_arguments_follow_forwarded_kwargs():
    from mmseg_code.models.segmentors.code import CoDe
    from mmseg_code.models.segmentors.tcl import TCL
    args = init_arguments(TCL)  # TCL(loss_seg, **kwargs) -> TextSupervisedSegmentor(clip, ..., test_cfg, ...)
    assert {'loss_seg', 'clip', 'decode_head', 'text_encoder', 'vocabulary', 'test_cfg'} <= args and 'kwargs' not in args
    assert 'test_cfg' in init_arguments(CoDe)
    import torch.nn as nn
    assert init_arguments(nn.Module) == set()  # nn.Module takes **kwargs but accepts none


def test_dict_argument_with_listed_keys():
    """A class listing the keys of a dict argument (``<ARG>_KEYS`` or ``DEFAULT_<ARG>``) gets them checked."""
    import torch.nn as nn

    @MODELS.register_module(force=True)
    class ListedKeysProbe(nn.Module):
        DEFAULT_TEST_CFG = dict(mode='whole', pamr=True, bg_thresh=None)

        def __init__(self, test_cfg=None):
            super().__init__()

        @classmethod
        def check_test_cfg(cls, test_cfg):
            if test_cfg.get('mode', 'whole') not in ('whole', 'slide'):
                raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got {test_cfg['mode']!r}.")

    cfg = Config(dict(model=dict(type='ListedKeysProbe', test_cfg=dict(mode='whole'))))
    msg = _error(cfg, model__test_cfg__pamrr=False)
    assert msg == "--cfg-options model.test_cfg.pamrr: ListedKeysProbe's test_cfg has no key 'pamrr'; did you mean " \
                  "'pamr'?"
    assert _error(cfg, model__test_cfg__pamr='yes').endswith("expects true/false (default True), got a string")
    check_cfg_options(cfg, {'model.test_cfg.pamr': False, 'model.test_cfg.bg_thresh': 0.3})
    # the same when the config does not set test_cfg at all
    bare = Config(dict(model=dict(type='ListedKeysProbe')))
    assert _error(bare, model__test_cfg__pamrr=False).endswith("has no key 'pamrr'; did you mean 'pamr'?")
    check_cfg_options(bare, {'model.test_cfg.pamr': False})


def test_value_the_model_rejects_fails_at_load(tmp_path):
    """After merging, the class's ``check_<arg>`` validates what an option changed: one line, before any build."""
    test_dict_argument_with_listed_keys()  # registers ListedKeysProbe
    path = tmp_path / 'probe.py'
    path.write_text("model = dict(type='ListedKeysProbe', test_cfg=dict(mode='whole'))\n")
    with pytest.raises(UserError) as e:
        load_config(str(path), {'model.test_cfg.mode': 'slid'})
    assert str(e.value) == "--cfg-options model.test_cfg.mode: test_cfg.mode must be 'whole' or 'slide', got 'slid'."
    assert load_config(str(path), {'model.test_cfg.mode': 'slide'}).model.test_cfg.mode == 'slide'


def test_load_config_checks_before_merging(cfg):
    with pytest.raises(UserError, match="did you mean 'batch_size'"):
        load_config(CODE_TINY, {'train_dataloader.batch_sze': 2})
    merged = load_config(CODE_TINY, {'train_dataloader.batch_size': 2, 'optim_wrapper.optimizer.amsgrad': True})
    assert merged.train_dataloader.batch_size == 2 and merged.optim_wrapper.optimizer.amsgrad is True


def test_real_segmentor_test_cfg_value_fails_at_load():
    """The segmentor's own ``check_test_cfg`` runs on ``--cfg-options`` before anything is built."""
    with pytest.raises(UserError) as e:
        load_config(CODE_TINY, {'model.test_cfg.mode': 'slide'})
    assert str(e.value) == "--cfg-options model.test_cfg.mode: test_cfg.mode='slide' needs crop_size and stride."
    cfg = load_config(CODE_TINY, {'model.test_cfg.bg_thresh': 0.9})
    assert cfg.model.test_cfg.bg_thresh == 0.9
