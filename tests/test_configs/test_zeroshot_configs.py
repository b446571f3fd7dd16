"""Every per-benchmark zero-shot config parses into the model with that benchmark's vocabulary and protocol."""
import pathlib

import pytest
from mmengine.config import Config

ROOT = pathlib.Path(__file__).parents[2]
# benchmark -> (number of classes in its vocabulary file, has background)
BENCHMARKS = {'voc21': (21, True), 'context60': (60, True), 'coco_object': (81, True), 'voc20': (20, False),
              'context59': (59, False), 'coco_stuff171': (171, False), 'cityscapes': (19, False),
              'ade20k': (150, False)}


@pytest.mark.parametrize('method,model_type', [('code', 'CoDe'), ('tcl', 'TCL')])
@pytest.mark.parametrize('bench', sorted(BENCHMARKS))
def test_zeroshot_config(method, model_type, bench):
    cfg = Config.fromfile(str(ROOT / 'configs' / method / 'zeroshot' / f'{method}_vitb16_{bench}.py'))
    assert cfg.model.type == model_type
    assert cfg.model.clip.model_name == 'ViT-B-16' and cfg.model.clip.pretrained == 'openai'
    vocab = pathlib.Path(cfg.model.vocabulary)
    names = [line for line in vocab.read_text().splitlines() if line.strip()]
    n_classes, has_bg = BENCHMARKS[bench]
    assert len(names) == n_classes and (names[0] == 'background') == has_bg
    tc = cfg.model.test_cfg
    assert (tc.mode, tuple(tc.crop_size), tuple(tc.stride), tc.pamr) == ('slide', (448, 448), (224, 224), True)
    assert cfg.test_dataloader.batch_size == 1
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'Resize'][0]
    assert tuple(resize['scale']) == (2048, 448) and resize['keep_ratio']


TRAINING_FREE = {'maskclip': 40.0, 'sclip': 40.0, 'clearclip': 50.0, 'naclip': 40.0}   # method -> logit scale


@pytest.mark.parametrize('method', sorted(TRAINING_FREE))
@pytest.mark.parametrize('bench', sorted(BENCHMARKS))
def test_training_free_zeroshot_config(method, bench):
    """configs/training_free/<method>/<method>_vitb16_<bench>.py: one protocol for every benchmark (not tuned)."""
    cfg = Config.fromfile(str(ROOT / 'configs' / 'training_free' / method / f'{method}_vitb16_{bench}.py'))
    assert cfg.model.type == 'TrainingFreeSegmentor'
    assert cfg.model.clip.model_name == 'ViT-B-16' and cfg.model.clip.pretrained == 'openai'
    head = cfg.model.decode_head
    assert (head.type, head.last_block, head.logit_scale) == ('TrainingFreeHead', method, TRAINING_FREE[method])
    assert cfg.model.text_encoder.templates == 'imagenet80'
    vocab = pathlib.Path(cfg.model.vocabulary)
    assert vocab.parent.resolve() == (ROOT / 'configs' / 'vocab').resolve() and vocab.name == f'{bench}.txt'
    names = [line for line in vocab.read_text().splitlines() if line.strip()]
    n_classes, has_bg = BENCHMARKS[bench]
    assert len(names) == n_classes and (names[0] == 'background') == has_bg
    tc = cfg.model.test_cfg
    assert (tc.mode, tuple(tc.crop_size), tuple(tc.stride), tc.pamr, tc.bg_thresh, tc.kp_weight) == \
        ('slide', (448, 448), (224, 224), False, 0.1, 0.0)
    assert cfg.benchmark_protocol.tuned_per_benchmark is False
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'Resize'][0]
    assert tuple(resize['scale']) == (2048, 448) and resize['keep_ratio']
    assert cfg.test_cfg.type == 'TestLoop' and cfg.test_evaluator.type == 'IoUMetric'
