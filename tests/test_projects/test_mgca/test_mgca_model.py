"""MGCA segmentor: decoder size (ViT-B/16), what trains, loss keys, inference (units vs pixels, background),
caption augmentation, registered names, configs."""
import pathlib

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, TRANSFORMS
from mmseg.structures import SegDataSample

import projects.mgca.mgca  # noqa: F401

ROOT = pathlib.Path(__file__).parents[3]
CFG = ROOT / 'projects' / 'mgca' / 'configs'
init_default_scope('mmseg')


def _tiny(**kw):
    cfg = dict(type='MGCA', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
               vocabulary=['background', 'circle', 'square'],
               test_cfg=dict(mode='whole', num_units=16))
    cfg.update(kw)
    return MODELS.build(cfg)


def test_vitb16_decoder_has_the_papers_4_72M_parameters():
    model = MODELS.build(dict(type='MGCA', clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained=None)))
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    # 2 gated blocks at C = 512: LN 2*512 + conv 512*512*9 + bias 512 + gate 1 = 2,360,833 each
    assert sum(trainable.values()) == 2 * (2 * 512 + 512 * 512 * 9 + 512 + 1) == 4_721_666
    assert all(n.startswith('decode_head.decoder.') for n in trainable)


def test_training_step_trains_only_the_decoder():
    model = _tiny()
    torch.manual_seed(0)
    for p in model.decode_head.parameters():   # open the gates so every decoder weight gets a gradient
        if p.dim() == 0:
            p.data.fill_(0.5)
    x = torch.randn(3, 3, 64, 64)
    samples = []
    for cap in ('a red circle', 'a blue square', 'a green star'):
        s = SegDataSample()
        s.text_ids = model.clip.text_encoder.tokenize([cap])[0]
        samples.append(s)
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_obj', 'loss_reg', 'loss_pix'}
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if name.startswith('decode_head.decoder.'):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_inference_units_pixels_and_background():
    model = _tiny()
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    metas = [dict(ori_shape=(64, 64))] * 2
    scores = model.encode_decode(x, metas)
    assert scores.shape == (2, 3, 64, 64)                       # background plane + 2 classes
    assert torch.all(scores[:, 0] == 0.5)                       # bg_thresh 0.5 without PAMR
    fg = scores[:, 1:]
    assert torch.allclose(fg.sum(1), torch.ones(2, 64, 64), atol=1e-5)   # softmax over the classes
    # units: at most 16 distinct score vectors per image at feature resolution
    head, classes = model.decode_head, model.text_encoder()
    feats = torch.nn.functional.normalize(head(model.extract_feat(x)), dim=1, eps=1e-6)

    def class_scores(feats):
        return head.class_scores(feats, classes, model.test_cfg)
    probs = class_scores(feats)
    assert probs.shape == (2, 2, 8, 8)
    assert len(torch.unique(probs[0].flatten(1).t().round(decimals=5), dim=0)) <= 16
    # every pixel a meta-point (8x8) == plain per-pixel inference
    model.set_num_units((8, 8))
    units_all = class_scores(feats)
    model.set_num_units(None)
    pixel = class_scores(feats)
    assert torch.allclose(units_all, pixel, atol=1e-5)
    # per-pixel scores by hand: softmax_k(cos(V, t_k) / 0.07)
    t = classes.masker
    cos = torch.einsum('bchw,kc->bkhw', feats, t)
    assert torch.allclose(pixel, (cos / 0.07).softmax(1), atol=1e-5)


def test_kp_weight_is_ignored_and_pamr_optional():
    model = _tiny(test_cfg=dict(mode='whole', num_units=16, kp_weight=0.3, pamr=True))
    assert model.test_cfg['kp_weight'] == 0.0 and model.test_cfg['pamr'] and model.bg_thresh == 0.4
    model.eval()
    assert model.encode_decode(torch.randn(1, 3, 64, 64), [dict(ori_shape=(64, 64))]).shape == (1, 3, 64, 64)


def test_noun_prompt_caption_candidates():
    tr = TRANSFORMS.build(dict(type='MGCANounPromptCaption', templates=['a photo of a {}.'], seed=0))
    seen = set()
    for key in range(60):
        out = tr(dict(key=str(key), caption='a dog on a sofa', caption_nouns=['dog', 'sofa']))
        assert out['original_caption'] == 'a dog on a sofa'
        seen.add(out['caption'])
    assert seen == {'a dog on a sofa', 'a photo of a dog.', 'a photo of a sofa.'}
    assert tr(dict(key='x', caption='hello', caption_nouns=[]))['caption'] == 'hello'


def test_registered_names_do_not_clash():
    """Registering an existing name raises in mmengine, so importing mmseg, the plugin and the project together
    proves there is no clash among them; also no name may shadow an mmengine (parent registry) module."""
    import mmseg.apis  # noqa: F401
    import mmseg.visualization  # noqa: F401
    import mmseg_code  # noqa: F401
    from mmseg.registry import MODELS as M, TRANSFORMS as T
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    ours = {n: [k for k, v in reg.module_dict.items() if v.__module__.startswith('projects.mgca.mgca')]
            for n, reg in (('MODELS', M), ('TRANSFORMS', T))}
    assert sorted(ours['MODELS']) == ['MGCA', 'MGCAHead', 'MGCALoss', 'MGCAObjectLoss', 'MGCAPixelLoss',
                                      'MGCARegionLoss', 'MGCASemanticUnit']
    assert ours['TRANSFORMS'] == ['MGCANounPromptCaption']
    for n, reg in (('MODELS', M), ('TRANSFORMS', T)):
        assert not set(ours[n]) & set(reg.parent.module_dict), n
    # the plugin's and mmseg's own names still point to their modules
    assert M.module_dict['TCL'].__module__.startswith('mmseg_code.')
    assert M.module_dict['EncoderDecoder'].__module__.startswith('mmseg.')


def test_paper_config_schedule():
    cfg = Config.fromfile(str(CFG / 'mgca_vitb16_cc3m.py'))
    assert cfg.custom_imports.imports == ['mmseg_code', 'projects.mgca.mgca']
    assert cfg.train_cfg.max_iters == 37500                          # 15 epochs x 2.56M / 1024
    assert cfg.param_scheduler[0].end == 5000                        # 2 warmup epochs
    assert cfg.optim_wrapper.optimizer.lr == 1e-4 and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size * 4 == 1024
    loss = cfg.model.loss_mgca
    assert (loss.k, loss.k_n, loss.k_pix) == (0.4, 0.05, 0.06)
    assert all(loss[k].temperature == 0.07 and loss[k].loss_weight == 1.0 for k in ('loss_obj', 'loss_reg',
                                                                                        'loss_pix'))
    tc = cfg.model.test_cfg
    assert tc.num_units == 36 and tc.pamr is False and tc.crop_size == (448, 448) and tc.stride == (224, 224)
    assert Config.fromfile(str(CFG / 'mgca_vitb16_cc3m_pixel.py')).model.test_cfg.num_units is None


def test_benchmark_protocol_builds_mgca():
    """tools/benchmark.py's run config (VOC protocol, no PAMR) builds an MGCA with units, no KP, bg 0.5."""
    import runpy
    bench = runpy.run_path(str(ROOT / 'tools' / 'benchmark.py'))
    model_cfg = Config.fromfile(str(CFG / 'mgca_vitb16_cc3m.py'))
    bcfg = bench['load_benchmark']('voc21')
    info = bench['benchmark_info'](bcfg, 'voc21')
    cfg = bench['build_run_config'](model_cfg, bcfg, info, 'data/VOCdevkit/VOC2012', False, None, '/tmp/x',
                                    {'model.clip.model_name': 'mmcode-tiny-vit-p16', 'model.clip.pretrained': None})
    model = MODELS.build(cfg.model)
    assert model.test_cfg['num_units'] == 36 and model.test_cfg['kp_weight'] == 0.0
    assert model.test_cfg['units'] == 'image' and model.test_cfg['mode'] == 'slide'
    assert not model.test_cfg['pamr'] and model.bg_thresh == 0.5
    assert model.vocabulary.has_background and len(model.vocabulary.names) == 20


def test_test_cfg_keys_are_the_bases_plus_mgcas():
    import pytest
    model = _tiny(test_cfg=dict(mode='whole', num_units=16, temperature=0.05, bg_thresh=0.3))
    assert model.test_cfg['temperature'] == 0.05 and model.bg_thresh == 0.3
    with pytest.raises(ValueError, match=r"Unknown key 'num_unit' in MGCA test_cfg \(did you mean 'num_units'\?\)"):
        _tiny(test_cfg=dict(mode='whole', num_unit=16))


def _slide_model(units):
    torch.manual_seed(0)
    model = _tiny(test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(16, 16), num_units=16, units=units))
    with torch.no_grad():                      # open the decoder gates so the decoder (not only MaskCLIP) matters
        for p in model.decode_head.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def test_semantic_units_per_stitched_image_equal_a_hand_stitched_map():
    """units='image' (default, the paper's 'units per image'): the windows' normalised pixel embeddings are pasted
    into one map, averaged where windows overlap and renormalised; the units, class softmax, ×8 upsampling and
    background plane are then computed once on that map."""
    import torch.nn.functional as F
    from projects.mgca.mgca.models.semantic_unit import MGCASemanticUnit
    model = _slide_model('image')
    assert MODELS.build(dict(type='MGCA', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'))
                        ).test_cfg['units'] == 'image'
    torch.manual_seed(1)
    x = torch.randn(1, 3, 48, 64)
    got = model.slide_inference(x, [dict(ori_shape=(48, 64))])
    # by hand: windows at y ∈ {0, 16}, x ∈ {0, 16, 32}, each 32×32 → a 4×4 map (p = 16, ×2) at offset (y/8, x/8)
    head, classes = model.decode_head, model.text_encoder()
    total, count = torch.zeros(1, 64, 6, 8), torch.zeros(1, 1, 6, 8)
    for y in (0, 16):
        for xo in (0, 16, 32):
            with torch.no_grad():
                v = F.normalize(head(model.image_encoder(x[:, :, y:y + 32, xo:xo + 32])), dim=1, eps=1e-6)
            total[..., y // 8:y // 8 + 4, xo // 8:xo // 8 + 4] += v
            count[..., y // 8:y // 8 + 4, xo // 8:xo // 8 + 4] += 1
    stitched = F.normalize(total / count, dim=1, eps=1e-6)
    units = MGCASemanticUnit(16)(stitched)
    fg = (torch.einsum('bchw,kc->bkhw', units, classes.masker) / 0.07).softmax(1)
    fg = F.interpolate(fg, scale_factor=8, mode='bilinear', align_corners=False)
    expected = torch.cat([torch.full((1, 1, 48, 64), 0.5), fg], dim=1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # 16 units for the whole image (per window there would be up to 16 in each of the 6 windows)
    assert len(torch.unique(units[0].flatten(1).t().round(decimals=5), dim=0)) <= 16


def test_both_unit_scopes_reach_the_prediction():
    x = torch.randn(1, 3, 48, 64)
    preds = {}
    for units in ('image', 'window'):
        model = _slide_model(units)
        sample = SegDataSample(metainfo=dict(ori_shape=(48, 64), img_shape=(48, 64)))
        out = model.predict(x, [sample])[0]
        assert out.pred_sem_seg.data.shape == (1, 48, 64) and out.seg_logits.data.shape == (3, 48, 64)
        preds[units] = out.seg_logits.data
    assert not torch.allclose(preds['image'], preds['window'])      # the scope changes the units
    # window offsets that are not multiples of the embedding stride (8), and an image smaller than the window
    model = _slide_model('image')
    for shape in ((50, 70), (20, 28)):
        sample = SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape))
        assert model.predict(torch.randn(1, 3, *shape), [sample])[0].pred_sem_seg.data.shape == (1, *shape)
    import pytest
    with pytest.raises(ValueError, match="units must be 'image' or 'window'"):
        _tiny(test_cfg=dict(mode='whole', units='images'))


def test_paste_window_places_embeddings_at_their_pixels():
    from projects.mgca.mgca.models.mgca import paste_window
    canvas, count = torch.zeros(1, 1, 3, 5), torch.zeros(1, 1, 3, 5)
    feats = torch.arange(8.).view(1, 1, 2, 4)                  # a 16×32 window at pixel (8, 8), stride 8: aligned
    paste_window(canvas, count, feats, (8, 24, 8, 40), (24, 40), 8)
    torch.testing.assert_close(canvas[0, 0, 1:, 1:], feats[0, 0])
    assert count.sum() == 8 and canvas[0, 0, 0].abs().sum() == 0 and canvas[0, 0, :, 0].abs().sum() == 0
    # a window at a non-multiple offset (y 18..50 of 50 rows) fills the cells whose centres it holds, to the end
    canvas, count = torch.zeros(1, 1, 7, 1), torch.zeros(1, 1, 7, 1)
    paste_window(canvas, count, torch.arange(4.).view(1, 1, 4, 1), (18, 50, 0, 8), (50, 8), 8)
    assert count[0, 0, :, 0].tolist() == [0, 0, 1, 1, 1, 1, 1]
    # centres 20, 28, 36, 44, 52 px → window rows (c − 18)/8 − ½ = −0.25 (clamped), 0.75, 1.75, 2.75, 3.75 (clamped)
    torch.testing.assert_close(canvas[0, 0, 2:, 0], torch.tensor([0., 0.75, 1.75, 2.75, 3.]))


def test_image_units_with_pamr():
    """PAMR (optional for MGCA) refines the stitched image's scores at embedding resolution; bg plane 0.4."""
    model = _slide_model('image')
    model.test_cfg['pamr'] = True
    x = torch.randn(1, 3, 48, 64)
    plain = _slide_model('image').slide_inference(x, [dict(ori_shape=(48, 64))])
    got = model.slide_inference(x, [dict(ori_shape=(48, 64))])
    assert got.shape == (1, 3, 48, 64) and torch.all(got[:, 0] == 0.4)
    assert not torch.allclose(got[:, 1:], plain[:, 1:])
