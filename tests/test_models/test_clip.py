"""CLIP package: encoders against open_clip's own functions on the same random tiny model."""
import pytest
import torch

from mmseg_code.models.clip import (CLIPImageEncoder, CLIPTextEncoder, OpenCLIP, build_open_clip, build_tokenizer,
                                    resize_pos_embed, self_attention_block)

NAME = 'mmcode-tiny-vit-p16'


@pytest.fixture(scope='module')
def raw():
    torch.manual_seed(0)
    model = build_open_clip(NAME).eval()
    return model


def test_encode_image_and_text_match_open_clip(raw):
    img = CLIPImageEncoder(raw.visual)
    txt = CLIPTextEncoder(raw, build_tokenizer(NAME, 77))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(img.encode_image(x), raw.encode_image(x), rtol=1e-5, atol=1e-5)
        ids = txt.tokenize(['a photo of a cat.', 'two dogs'])
        torch.testing.assert_close(txt.encode(ids), raw.encode_text(ids), rtol=1e-5, atol=1e-5)
        # from token embeddings with the EOT index: same as encode
        torch.testing.assert_close(txt.encode_embeddings(txt.embed_tokens(ids), txt.eot_index(ids)),
                                   raw.encode_text(ids), rtol=1e-5, atol=1e-5)
    assert ids.shape == (2, 77) and int(txt.eot_index(ids)[1]) == 3  # SOT two dogs EOT


def test_self_attention_block_equals_diagonal_mask(raw):
    block = raw.visual.transformer.resblocks[-1]
    x = torch.randn(2, 17, raw.visual.transformer.width)
    mask = torch.full((17, 17), float('-inf'))
    mask.fill_diagonal_(0.0)
    with torch.no_grad():
        torch.testing.assert_close(self_attention_block(block, x), block(x, attn_mask=mask), rtol=1e-5, atol=1e-5)


def test_pos_embed_resize_448(raw):
    img = CLIPImageEncoder(raw.visual)
    pe = raw.visual.positional_embedding
    assert resize_pos_embed(pe, (14, 14)) is pe
    big = resize_pos_embed(pe, (28, 28))
    assert big.shape == (1 + 28 * 28, pe.shape[1])
    torch.testing.assert_close(big[0], pe[0])
    with torch.no_grad():
        dense = img.encode_dense(torch.randn(1, 3, 448, 448))
        tokens, grid = img.forward_features(torch.randn(1, 3, 448, 448))
    assert dense.shape == (1, 64, 28, 28) and grid == (28, 28) and tokens.shape == (1, 1 + 28 * 28, 128)
    with pytest.raises(ValueError, match='multiple of the patch size'):
        img.embed(torch.randn(1, 3, 100, 100))


def test_local_weights_file_roundtrip(raw, tmp_path):
    path = tmp_path / 'tiny_weights.pt'
    torch.save(raw.state_dict(), path)
    clip = OpenCLIP(NAME, pretrained=str(path))
    x = torch.randn(1, 3, 224, 224)
    ids = clip.text_encoder.tokenize(['a red car'])
    with torch.no_grad():
        torch.testing.assert_close(clip.image_encoder.encode_image(x), raw.encode_image(x))
        torch.testing.assert_close(clip.text_encoder.encode(ids), raw.encode_text(ids))
    with pytest.raises(FileNotFoundError):
        OpenCLIP(NAME, pretrained=str(tmp_path / 'missing.pt'))


def test_unknown_model_name():
    with pytest.raises(ValueError, match='Unknown CLIP model name'):
        OpenCLIP('ViT-Q-99')


def test_frozen_parameter_counts(raw):
    clip = OpenCLIP(NAME)
    total = sum(p.numel() for p in raw.parameters() if p.ndim >= 0) - raw.logit_scale.numel()
    total -= sum(p.numel() for n, p in raw.named_parameters() if n.startswith('logit_bias'))
    assert clip.num_parameters() == total
    assert clip.num_parameters(trainable_only=True) == 0
    clip.train()
    assert not clip.training and not clip.image_encoder.training
    unfrozen = OpenCLIP(NAME, frozen=False)
    assert unfrozen.num_parameters(trainable_only=True) == total


def test_grad_checkpointing_gives_the_same_values_and_gradients():
    """Activation checkpointing only changes memory: outputs and input gradients are identical."""
    import torch
    from mmseg_code.models.clip import OpenCLIP
    torch.manual_seed(0)
    clip = OpenCLIP('mmcode-tiny-vit-p16')
    x = torch.randn(2, 3, 32, 32)
    results = []
    for enable in (False, True):
        clip.set_grad_checkpointing(enable)
        xi = x.clone().requires_grad_(True)
        out = clip.image_encoder.encode_image(xi)
        out.square().sum().backward()
        results.append((out.detach(), xi.grad))
    assert clip.image_encoder.grad_checkpointing and clip.text_encoder.transformer.grad_checkpointing
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
