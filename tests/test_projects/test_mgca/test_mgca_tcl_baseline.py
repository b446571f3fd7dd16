"""Issue 17 item 8: MGCA's TCL* baseline (TCL's official recipe retrained on CC3M only) as a config."""
import os.path as osp

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _load(path):
    return Config.fromfile(osp.join(ROOT, path))


def test_tcl_star_is_tcl_on_cc3m_only():
    star = _load('projects/mgca/configs/tcl_vitb16_cc3m.py')
    tcl = _load('configs/tcl/tcl_vitb16_cc.py')
    mgca = _load('projects/mgca/configs/mgca_vitb16_cc3m.py')
    # the CC3M shards MGCA trains on, nothing else
    assert [s['name'] for s in star.train_dataloader.dataset.sources] == ['cc3m']
    assert star.train_dataloader.dataset.sources[0]['urls'] == mgca.train_dataloader.dataset.sources[0]['urls']
    # everything else is TCL's recipe, untouched
    assert star.model == tcl.model and star.model.type == 'TCL'
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'randomness', 'custom_hooks'):
        assert star[key] == tcl[key], key
    sd, td = star.train_dataloader.to_dict(), tcl.train_dataloader.to_dict()
    sd['dataset'].pop('sources'), td['dataset'].pop('sources')
    assert sd == td
    assert [t['type'] for t in star.train_dataloader.dataset.pipeline][3:5] == ['TimmRandAugment',
                                                                             'TimmRandomErasing']


def test_tcl_star_builds_the_tcl_model_with_tiny_overrides():
    import torch
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    init_default_scope('mmseg')
    cfg = _load('projects/mgca/configs/tcl_vitb16_cc3m.py')
    cfg.model.clip.update(model_name='mmcode-tiny-vit-p16', pretrained=None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'TCL'
