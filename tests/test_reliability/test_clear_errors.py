"""Every bad input named in issue 8 stops with one clear line that says what is wrong and what to do."""
import os
import sys

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

import mmseg_code  # noqa: F401
from mmseg_code.engine.reliability import ConfigError, check_train_config
from mmseg_code.models.text_classifier import encode_with_templates
from mmseg_code.models.vocab import Vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _one_line(excinfo, *fragments):
    msg = str(excinfo.value)
    assert '\n' not in msg and len(msg) < 400, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


@pytest.fixture(scope='module')
def tiny_code():
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='CoDe', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16', pretrained=None),
        decode_head=dict(type='ImageSegmenter', decoder=dict(type='GatedDecoder', n_layers=1, double=False)),
        text_encoder=dict(type='KgCoOpTextClassifier', noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=16)),
        text_segmenter=dict(type='TextSegmenter', num_heads=2),
        test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0)))


def test_empty_and_duplicated_vocabulary():
    with pytest.raises(ValueError) as e:
        Vocabulary([])
    _one_line(e, 'vocabulary is empty')
    with pytest.raises(ValueError) as e:
        Vocabulary(['cat', 'dog', 'cat'])
    _one_line(e, 'Duplicated class name', "'cat'")


def test_class_name_that_tokenises_to_nothing_or_is_too_long(tiny_code):
    te = tiny_code.clip.text_encoder
    # '&nbsp;' is HTML-unescaped to a no-break space, which CLIP's text cleaning removes: no BPE token at all
    assert te.tokenizer.encode('&nbsp;') == []
    long_name = ' '.join(['zebra'] * 80)                          # 80 BPE tokens > 77
    with pytest.raises(ValueError) as e:
        encode_with_templates(te, ['cat', '&nbsp;'], ['a photo of a {}.'])
    _one_line(e, "'&nbsp;'", 'tokenises to nothing')
    with pytest.raises(ValueError) as e:
        encode_with_templates(te, ['cat', long_name], ['a photo of a {}.'])
    _one_line(e, 'is too long', 'context length 77')
    # CoDe's vocabulary goes through KgCoOp prompts ([SOT] + 16 ctx + name + [EOT]): 60 name tokens do not fit
    # (16 + 60 + 2 = 78 > 77), 59 do; before this check the name was silently truncated
    tiny_code.text_encoder.encode_names([' '.join(['zebra'] * 59)])
    with pytest.raises(ValueError) as e:
        tiny_code.text_encoder.encode_names(['cat', ' '.join(['zebra'] * 60)])
    _one_line(e, 'is too long', 'context length 61')
    with pytest.raises(ValueError) as e:
        tiny_code.text_encoder.encode_names(['&nbsp;'])
    _one_line(e, 'tokenises to nothing')


def test_shard_pattern_that_matches_nothing(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(type='ImageTextDataset', sources=dict(urls=str(tmp_path / 'cc3m/{00000..00331}.tar'))))
    _one_line(e, 'matched no file', '00000.tar')
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(type='ImageTextDataset', sources=dict(urls=str(tmp_path / '*.tar'))))
    _one_line(e, 'matched no file')
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(type='ImageTextDataset', sources=dict(ann_file=str(tmp_path / 'pairs.jsonl'))))
    _one_line(e, 'does not exist', 'pairs.jsonl')


def test_j_zero_and_batch_below_two():
    with pytest.raises(ValueError) as e:
        TRANSFORMS.build(dict(type='SelectNouns', num_nouns=0, tagger='builtin'))
    _one_line(e, 'num_nouns >= 1', 'num_nouns=0')
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/code/code_tiny.py'))
    check_train_config(cfg, world_size=1)                        # batch 4: fine
    cfg.train_dataloader.batch_size = 1
    with pytest.raises(ConfigError) as e:
        check_train_config(cfg, world_size=1)
    _one_line(e, 'CoDe needs a global batch of at least 2', 'train_dataloader.batch_size=1 x 1')
    check_train_config(cfg, world_size=2)                        # 1 per rank x 2 ranks: InfoNCE gathers, fine
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.dataset.pipeline[4].num_nouns = 0
    with pytest.raises(ConfigError) as e:
        check_train_config(cfg, world_size=1)
    _one_line(e, 'num_nouns (J) must be at least 1')
    tcl = Config.fromfile(os.path.join(ROOT, 'configs/tcl/tcl_tiny.py'))
    tcl.train_dataloader.batch_size = 1
    with pytest.raises(ConfigError) as e:
        check_train_config(tcl, world_size=1)
    _one_line(e, 'TCL needs a global batch of at least 2')


def test_train_tool_prints_the_config_error(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    try:
        import train as train_tool
    finally:
        sys.path.pop(0)
    rc = train_tool.tool.run_tool(train_tool.main, [os.path.join(ROOT, 'configs/code/code_tiny.py'), '--work-dir',
                                                    str(tmp_path), '--cfg-options', 'train_dataloader.batch_size=1'])
    err = capsys.readouterr().err
    assert rc == 2 and err.count('\n') == 1
    assert err.split(': error: ', 1)[1].startswith('CoDe needs a global batch of at least 2')


def test_missing_nltk_data_names_the_download_command(monkeypatch, tmp_path):
    import nltk
    from mmseg_code.datasets.nlp import tagger
    monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])     # an empty NLTK data directory
    cache = getattr(tagger.get_pos_tagger, 'cache_clear', None)
    if cache:
        cache()
    with pytest.raises(Exception) as e:
        TRANSFORMS.build(dict(type='SelectNouns', num_nouns=2, tagger='nltk'))
    msg = str(e.value)
    assert 'python -m nltk.downloader averaged_perceptron_tagger_eng punkt_tab' in msg and '\n' not in msg
    if cache:
        cache()


def test_unknown_clip_model_name():
    with pytest.raises(ValueError) as e:
        MODELS.build(dict(type='OpenCLIP', model_name='ViT-Q-99', pretrained=None))
    _one_line(e, "Unknown CLIP model name 'ViT-Q-99'", 'list_clip_models()')
