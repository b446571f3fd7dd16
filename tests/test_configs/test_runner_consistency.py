"""Every config under configs/ and projects/*/configs parses and is accepted by MMEngine's ``Runner``: its train, val
and test triples are each all set or all unset (the Runner raises otherwise, before reading any data), and a
``param_scheduler`` comes with an ``optim_wrapper``."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(osp.relpath(p, ROOT) for pattern in ('configs/**/*.py', 'projects/*/configs/**/*.py')
                 for p in glob.glob(osp.join(ROOT, pattern), recursive=True) if '/_base_/' not in p)
# the triples Runner.__init__ checks (mmengine/runner/runner.py), in its order
TRIPLES = (('train_dataloader', 'train_cfg', 'optim_wrapper'), ('val_dataloader', 'val_cfg', 'val_evaluator'),
           ('test_dataloader', 'test_cfg', 'test_evaluator'))


def test_all_configs_found():
    # 16 zero-shot configs + the training configs of CoDe, TCL, MGCA and TSEG
    assert sum(c.startswith('configs/code/zeroshot/') or c.startswith('configs/tcl/zeroshot/') for c in CONFIGS) == 16
    assert any(c.startswith('projects/tseg/configs/') for c in CONFIGS)
    assert any(c.startswith('projects/mgca/configs/') for c in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS)
def test_runner_triples_consistent(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    for triple in TRIPLES:
        given = [k for k in triple if cfg.get(k) is not None]
        assert given in ([], list(triple)), f'{path}: {given} set but not {sorted(set(triple) - set(given))}'
    if cfg.get('param_scheduler') is not None:
        assert cfg.get('optim_wrapper') is not None, path


@pytest.mark.parametrize('method', ['code', 'tcl', 'training_free'])
def test_zeroshot_configs_evaluate(method):
    """A zero-shot config is a complete evaluation config (``tools/test.py CONFIG CKPT``)."""
    prefix = 'configs/training_free/' if method == 'training_free' else f'configs/{method}/zeroshot/'
    for path in CONFIGS:
        if path.startswith(prefix) and not path.endswith('_vitb16.py'):
            cfg = Config.fromfile(osp.join(ROOT, path))
            assert cfg.test_cfg.type == 'TestLoop' and cfg.test_evaluator.type == 'IoUMetric', path
            assert cfg.test_dataloader.dataset.type, path
