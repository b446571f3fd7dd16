"""Template ensembles of the class embeddings: TCL's (mean, normalise once) and the official CoDe evaluation's
(normalise each template, mean, normalise again), each against an independent numpy computation of its formula."""
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_code  # noqa: F401
from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.text_classifier import KgCoOpTextClassifier, TextClassifier, encode_with_templates

TEMPLATES = ['itap of a {}.', 'a bad photo of a {}.', 'a {} in a video game.']
NAMES = ['cat', 'dog', 'traffic light']


@pytest.fixture(scope='module')
def clip():
    torch.manual_seed(0)
    m = OpenCLIP('mmcode-tiny-vit-p16')
    with torch.no_grad():                       # spread the embedding norms so that the two formulas differ clearly
        m.text_encoder.text_projection.mul_(torch.linspace(0.2, 3.0, m.text_encoder.text_projection.shape[1]))
    return m


def raw(te, names, templates):
    """N×T×D float64 numpy: every prompt encoded on its own (no batching), unnormalised."""
    with torch.no_grad():
        return np.stack([np.stack([te.encode(te.tokenize([t.format(n)]))[0].double().numpy() for t in templates])
                         for n in names])


def unit(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True))


def tcl_formula(e):            # kakaobrain/tcl build_text_embedding: average, then normalise once
    return unit(e.mean(1))


def code_formula(e):           # official CoDe build_text_embedding_from_text_tokens: normalise, average, normalise
    return unit(unit(e).mean(1))


def test_both_formulas_against_numpy(clip):
    te = clip.text_encoder
    e = raw(te, NAMES, TEMPLATES)
    tcl = encode_with_templates(te, NAMES, TEMPLATES).double().numpy()
    code = encode_with_templates(te, NAMES, TEMPLATES, ensemble='normalize_mean_normalize').double().numpy()
    np.testing.assert_allclose(tcl, tcl_formula(e), atol=2e-6)
    np.testing.assert_allclose(code, code_formula(e), atol=2e-6)
    assert np.abs(tcl - code).max() > 1e-3      # the two differ on these weights, so the test can tell them apart
    with pytest.raises(ValueError, match='Unknown template ensemble'):
        encode_with_templates(te, NAMES, TEMPLATES, ensemble='mean')


def test_classifiers_use_their_papers_ensemble(clip):
    """TCL's classifier: TCL's formula for the masker and the KP branch. CoDe's: KgCoOp bare names for the masker
    (build_text_embedding_from_noun) and the normalise-average-normalise ensemble of the frozen encoder for the KP
    branch (build_text_embedding_from_text_tokens)."""
    te = clip.text_encoder
    e = raw(te, NAMES, TEMPLATES)
    tcl = TextClassifier(te, templates=TEMPLATES, kp_templates=TEMPLATES)
    tcl.set_vocabulary(NAMES, background=False)
    c = tcl()
    np.testing.assert_allclose(c.masker.double().numpy(), tcl_formula(e), atol=2e-6)
    assert c.kp is c.masker
    code = KgCoOpTextClassifier(te, noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=4, seed=0),
                                kp_templates=TEMPLATES)
    assert code.ensemble == 'normalize_mean_normalize'
    code.set_vocabulary(NAMES, background=False)
    c = code()
    np.testing.assert_allclose(c.kp.double().numpy(), code_formula(e), atol=2e-6)
    with torch.no_grad():
        kg = torch.nn.functional.normalize(code.noun_prompt(NAMES).float(), dim=-1)
    torch.testing.assert_close(c.masker, kg)
    # TCL's ensemble stays available for CoDe as an option
    opt = KgCoOpTextClassifier(te, noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=4, seed=0),
                               kp_templates=TEMPLATES, ensemble='mean_normalize')
    opt.set_vocabulary(NAMES, background=False)
    np.testing.assert_allclose(opt().kp.double().numpy(), tcl_formula(e), atol=2e-6)


@pytest.mark.parametrize('cfg_file,ensemble', [('configs/code/code_vitb16_cc.py', 'normalize_mean_normalize'),
                                               ('configs/tcl/tcl_vitb16_cc.py', 'mean_normalize')])
def test_configs_build_the_official_ensemble(cfg_file, ensemble):
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_file).model.text_encoder
    t = MODELS.get(cfg.type)
    import inspect
    default = inspect.signature(t.__init__).parameters['ensemble'].default
    assert cfg.get('ensemble', default) == ensemble
