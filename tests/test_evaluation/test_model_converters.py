"""Official TCL / CoDe checkpoints → plugin names: state dicts written with the official key names (kakaobrain/tcl
models/tcl/*.py, 072jiajia/Image-Text-Co-Decomposition models/tcl/*.py) land in the right parameters, and the converted model predicts exactly as the source model."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

import mmseg_code  # noqa: F401
from mmseg.registry import MODELS
from tools.model_converters import code2mmseg, tcl2mmseg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BLOCK = ['ln_1.weight', 'ln_1.bias', 'attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight',
         'attn.out_proj.bias', 'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight',
         'mlp.c_proj.bias']
CONV = [('norm.weight', 'norm.weight'), ('norm.bias', 'norm.bias'), ('conv.weight', 'conv.weight'),
        ('conv.bias', 'conv.bias'), ('gate.gate', 'gate')]


def build(config, seed):
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(osp.join(ROOT, config)).model)
    with torch.no_grad():                          # make every learned tensor informative (gates ≠ 0, …)
        for name, p in model.named_parameters():
            if not name.startswith('clip.'):
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def official_masker(sd, double, block_index):
    """The release's masker keys (names from kakaobrain/tcl: Masker / MaskerBackbone / GDecoder / ResConv)."""
    off = {}
    for p in BLOCK:
        off[f'masker.image_encoder.backbone.transformer.resblocks.{block_index}.{p}'] = sd[f'decode_head.block.{p}']
    for i in range(2):
        for j, conv in enumerate(['conv', 'conv2'] if double else ['conv']):
            for o, n in CONV:
                off[f'masker.image_encoder.decoder.decoder.net.{i}.{conv}.{o}'] = \
                    sd[f'decode_head.decoder.stages.{i}.{j}.{n}']
    for o in ('ln.weight', 'ln.bias', 'proj'):
        off[f'masker.image_encoder.decoder.image_proj.{o}'] = sd[f'decode_head.image_proj.{o}']
    off['masker.sim2mask.w'] = sd['decode_head.sim2mask.w']
    off['masker.sim2mask.b'] = sd['decode_head.sim2mask.b']
    return off


def junk(sd):
    """Keys a training checkpoint also has and the converter must drop."""
    return {'clip_image_encoder.clip_visual.conv1.weight': torch.zeros(2), 'pamr.aff_x.kernel': torch.zeros(8, 1, 3, 3),
            'frozen_clip.positional_embedding': torch.zeros(3)}


# learned temperatures of an official training checkpoint (log 1/τ; init log(1/0.07) = 2.659), kept by the converters
TEMPS = {'tcli_loss.logit_scale': ('loss_seg.infonce_img.logit_scale', torch.tensor(3.1)),
         'tclf_loss.logit_scale': ('loss_seg.infonce_feat.logit_scale', torch.tensor(2.2))}
HCL_TEMP = {'hcl_loss.logit_scale': ('hcl_loss.logit_scale', torch.tensor(4.0))}


def official_code(sd):
    """The masker keys plus CoDe's own (names from 072jiajia/Image-Text-Co-Decomposition)."""
    off = official_masker(sd, double=False, block_index=11)
    off['clip_text_encoder.prompt_learner.ctx'] = sd['text_encoder.noun_prompt.ctx']
    off['learnable_image_bg'] = sd['region_prompt.prompt']
    off['bg_text'] = sd['word_prompt.prompt'].unsqueeze(1)             # official shape [77, 1, C]
    off['text_mask_w'] = sd['text_segmenter.logit_scale']
    off['text_mask_b'] = sd['text_segmenter.logit_bias']
    for i in range(2):
        for p in BLOCK:
            off[f'text_decoder.transformer.resblocks.{i}.{p}'] = sd[f'text_segmenter.blocks.{i}.{p}']
    return off


def predictions(model, img):
    model.set_vocabulary(['background', 'circle', 'square'])
    return model.predict(img)[0].seg_logits.data


def check_round_trip(src, off, converter, config, tmp_path, mapping):
    path = tmp_path / 'official.pth'
    torch.save({'model': {f'module.{k}': v for k, v in off.items()}, 'step': 50000}, path)
    dst = tmp_path / 'converted.pth'
    assert converter.main([str(path), str(dst)]) == 0
    dst_model = build(config, seed=1)
    with torch.no_grad():                          # CLIP comes from the config (OpenAI weights in real use)
        for name, p in dst_model.named_parameters():
            if name.startswith('clip.'):
                p.copy_(src.state_dict()[name])
    load_checkpoint(dst_model, str(dst), map_location='cpu')
    got = dst_model.state_dict()
    for off_key, plugin_key in mapping.items():
        expected = off[off_key]
        assert torch.equal(got[plugin_key].reshape(expected.shape), expected), (off_key, plugin_key)
    img = torch.rand(1, 3, 32, 48) * 4 - 2
    torch.testing.assert_close(predictions(dst_model, img), predictions(src, img), rtol=0, atol=0)
    return torch.load(dst, weights_only=True)


def masker_mapping(double, block_index):
    m = {f'masker.image_encoder.backbone.transformer.resblocks.{block_index}.{p}': f'decode_head.block.{p}'
         for p in BLOCK}
    for i in range(2):
        for j, conv in enumerate(['conv', 'conv2'] if double else ['conv']):
            for o, n in CONV:
                m[f'masker.image_encoder.decoder.decoder.net.{i}.{conv}.{o}'] = \
                    f'decode_head.decoder.stages.{i}.{j}.{n}'
    m.update({'masker.image_encoder.decoder.image_proj.proj': 'decode_head.image_proj.proj',
              'masker.sim2mask.w': 'decode_head.sim2mask.w', 'masker.sim2mask.b': 'decode_head.sim2mask.b'})
    return m


@pytest.mark.parametrize('block_index', [11, 0])
def test_tcl_release_conversion(tmp_path, block_index):
    src = build('configs/tcl/tcl_tiny.py', seed=0)
    sd = src.state_dict()
    off = official_masker(sd, double=True, block_index=block_index)
    n_official = len(off)
    assert n_official == 12 + 2 * 2 * 5 + 3 + 2
    off.update(junk(sd))
    off.update({k: v for k, (_, v) in TEMPS.items()})
    mapping = masker_mapping(True, block_index)
    mapping.update({k: n for k, (n, _) in TEMPS.items()})
    ckpt = check_round_trip(src, off, tcl2mmseg, 'configs/tcl/tcl_tiny.py', tmp_path, mapping)
    assert len(ckpt['state_dict']) == n_official + 2                   # junk dropped, temperatures kept
    assert not any(k.startswith(('clip', 'pamr')) for k in ckpt['state_dict'])
    assert {k for k in ckpt['state_dict'] if k.startswith('loss')} == {n for n, _ in TEMPS.values()}


def test_code_release_conversion(tmp_path):
    src = build('configs/code/code_tiny.py', seed=0)
    sd = src.state_dict()
    off = official_code(sd)
    off.update(junk(sd))
    off['clip_text_encoder.prompt_learner.token_prefix'] = torch.zeros(1, 1, 4)
    off.update({k: v for k, (_, v) in dict(TEMPS, **HCL_TEMP).items()})
    mapping = masker_mapping(False, 11)
    mapping.update({k: n for k, (n, _) in dict(TEMPS, **HCL_TEMP).items()})
    mapping.update({'clip_text_encoder.prompt_learner.ctx': 'text_encoder.noun_prompt.ctx',
                    'learnable_image_bg': 'region_prompt.prompt', 'bg_text': 'word_prompt.prompt',
                    'text_mask_w': 'text_segmenter.logit_scale', 'text_mask_b': 'text_segmenter.logit_bias'})
    mapping.update({f'text_decoder.transformer.resblocks.{i}.{p}': f'text_segmenter.blocks.{i}.{p}'
                    for i in range(2) for p in BLOCK})
    ckpt = check_round_trip(src, off, code2mmseg, 'configs/code/code_tiny.py', tmp_path, mapping)
    assert ckpt['state_dict']['word_prompt.prompt'].shape == sd['word_prompt.prompt'].shape
    assert ckpt['state_dict']['hcl_loss.logit_scale'].shape == ()


@pytest.mark.parametrize('converter,config,temps', [(tcl2mmseg, 'configs/tcl/tcl_tiny.py', TEMPS),
                                                    (code2mmseg, 'configs/code/code_tiny.py', dict(TEMPS, **HCL_TEMP))])
def test_temperatures_resume_training_and_stay_optional(tmp_path, converter, config, temps):
    """Training from a converted checkpoint uses the official learned temperatures (not 1/0.07); a conversion
    without them (--drop-temperatures, or a release that has none) still loads strictly for inference."""
    src = build(config, seed=0)
    sd = src.state_dict()
    off = official_code(sd) if converter is code2mmseg else official_masker(sd, double=True, block_index=11)
    off.update({k: v for k, (_, v) in temps.items()})
    path = tmp_path / 'official.pth'
    torch.save({'model': off}, path)
    for flags, kept in (([], True), (['--drop-temperatures'], False)):
        dst = tmp_path / f'converted{len(flags)}.pth'
        assert converter.main([str(path), str(dst)] + flags) == 0
        model = build(config, seed=1)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        load_checkpoint(model, str(dst), map_location='cpu')        # the plugin's strict key check is active
        got = model.state_dict()
        for name, value in temps.values():
            torch.testing.assert_close(got[name], value if kept else before[name])   # else: the model's own
        model.set_vocabulary(['background', 'circle', 'square'])
        assert model.predict(torch.rand(1, 3, 32, 32))[0].seg_logits.data.shape[0] == 3
    # the temperature a resumed training step uses is the official one: exp(logit_scale)
    model = build(config, seed=1)
    load_checkpoint(model, str(tmp_path / 'converted0.pth'), map_location='cpu')
    torch.testing.assert_close(model.loss_seg.infonce_img.scale(), torch.tensor(3.1).exp())


def test_unknown_keys_and_two_blocks_are_errors(tmp_path):
    src = build('configs/tcl/tcl_tiny.py', seed=0)
    off = official_masker(src.state_dict(), double=True, block_index=11)
    with pytest.raises(KeyError, match='not in the documented layout'):
        tcl2mmseg.convert(dict(off, **{'masker.something_new': torch.zeros(1)}))
    out, _, unknown = tcl2mmseg.convert(dict(off, **{'masker.something_new': torch.zeros(1)}), allow_unknown=True)
    assert unknown == ['masker.something_new']
    two = dict(off)
    two['masker.image_encoder.backbone.transformer.resblocks.10.ln_1.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='several ViT blocks'):
        tcl2mmseg.convert(two)
    with pytest.raises(KeyError, match='no masker key'):
        tcl2mmseg.convert({'tcli_loss.logit_scale': torch.zeros(())})
    # the official file pickles its OmegaConf config: refused without --trust
    path = tmp_path / 'pickled.pth'
    torch.save({'model': off, 'config': _Opaque()}, path)
    with pytest.raises(RuntimeError, match='--trust'):
        tcl2mmseg.main([str(path), str(tmp_path / 'x.pth')])
    assert tcl2mmseg.main([str(path), str(tmp_path / 'x.pth'), '--trust']) == 0


class _Opaque:
    """Stands in for the OmegaConf object of the official checkpoints."""


@pytest.mark.parametrize('converter', [tcl2mmseg, code2mmseg])
def test_bad_sources_are_one_line_from_the_command_line(tmp_path, capsys, converter):
    """Each bad source ends as ``<tool>: error: ...`` on one line and exit status 2 (run_tool), naming what is wrong."""
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'garbage\n')
    pickled = tmp_path / 'pickled.pth'
    torch.save({'model': {'masker.sim2mask.w': torch.zeros(())}, 'config': _Opaque()}, pickled)
    layout = tmp_path / 'layout.pth'
    torch.save({'model': {'foo.bar': torch.zeros(1)}}, layout)
    cases = [([str(garbage)], 'is not a PyTorch checkpoint (UnpicklingError'),
             ([str(pickled)], f'{_Opaque.__module__}._Opaque; the official release pickles'),
             ([str(layout)], "1 key(s) not in the documented layout (use --allow-unknown to skip): ['foo.bar']"),
             ([str(layout), '--allow-unknown'], 'no masker key'),
             ([str(tmp_path / 'missing.pth')], 'No such file')]
    for args, expected in cases:
        assert tcl2mmseg.tool.run_tool(converter.main, args[:1] + [str(tmp_path / 'out.pth')] + args[1:]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and 'Traceback' not in err, err
        assert expected in err, err
    assert not (tmp_path / 'out.pth').exists()


def test_converter_scripts_exit_with_one_line(tmp_path):
    """The scripts themselves (``__main__``), from another directory: one line and status 2; --debug: the traceback."""
    import subprocess
    import sys
    (tmp_path / 'bad.pth').write_bytes(b'garbage\n')
    tool = osp.join(ROOT, 'tools', 'model_converters', 'trust_checkpoint.py')
    res = subprocess.run([sys.executable, tool, 'bad.pth', 'out.pth'], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "trust_checkpoint.py: error: bad.pth is not a PyTorch checkpoint (ValueError: invalid literal for int() with "
        r"base 10: 'arbage\n')"], res.stderr
    res = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'model_converters', 'tcl2mmseg.py'), 'bad.pth',
                          'out.pth', '--debug'], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 1 and 'Traceback' in res.stderr and 'UnreadableCheckpointError' in res.stderr
