"""Shared fixtures of the TSEG project tests: registries, a tiny TSEG config (timm ViT + open_clip text)."""
import pytest

TINY_MODEL = dict(
    type='TSEG',
    image_encoder=dict(type='TSEGViTEncoder', model_name='vit_small_patch16_224', pretrained=False,
                       drop_path_rate=0.0,
                       model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, patch_size=8, img_size=64)),
    text_encoder=dict(type='TSEGCLIPTextEncoder', model_name='mmcode-tiny-vit-p16'),
    similarity=dict(embed_dim=48),
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True))


@pytest.fixture(scope='session', autouse=True)
def _registries():
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmseg_code  # noqa: F401
    import projects.tseg.tseg  # noqa: F401


@pytest.fixture
def tiny_model_cfg():
    import copy
    return copy.deepcopy(TINY_MODEL)
