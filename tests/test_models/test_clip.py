"""CLIP package: encoders against open_clip's own functions on the same random tiny model."""
import pytest
import torch

import math

import torch.nn.functional as F

from mmseg_code.models.clip import (CLIPImageEncoder, CLIPTextEncoder, OpenCLIP, build_open_clip, build_tokenizer,
                                    pad_to_patch, resize_pos_embed, self_attention_block)

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
    assert resize_pos_embed(pe, (14, 14)).data_ptr() == pe.data_ptr()          # the training grid: unchanged
    big = resize_pos_embed(pe, (28, 28))
    assert big.shape == (1 + 28 * 28, pe.shape[1])
    torch.testing.assert_close(big[0], pe[0])
    with torch.no_grad():
        dense = img.encode_dense(torch.randn(1, 3, 448, 448))
        tokens, grid = img.forward_features(torch.randn(1, 3, 448, 448))
    assert dense.shape == (1, 64, 28, 28) and grid == (28, 28) and tokens.shape == (1, 1 + 28 * 28, 128)
    with pytest.raises(ValueError, match='multiple of the patch size'):
        img.embed(torch.randn(1, 3, 100, 100))


def _resize_pos_embed_by_hand(pos_embed, grid_hw):
    """The plugin's resize before it called timm: CLS kept, the g×g grid resized bicubically (no antialiasing)."""
    g = int(math.sqrt(pos_embed.shape[0] - 1))
    patch = pos_embed[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    patch = F.interpolate(patch, size=grid_hw, mode='bicubic', align_corners=False)
    return torch.cat([pos_embed[:1], patch.permute(0, 2, 3, 1).reshape(grid_hw[0] * grid_hw[1], -1)])


def test_pos_embed_resize_is_the_hand_written_one_exactly():
    """timm's ``resample_abs_pos_embed`` (antialias off) gives bit for bit what the hand-written resize gave."""
    torch.manual_seed(0)
    pe = torch.randn(1 + 14 * 14, 32)
    for grid in [(28, 28), (20, 36), (7, 28), (3, 5)]:
        assert torch.equal(resize_pos_embed(pe, grid), _resize_pos_embed_by_hand(pe, grid)), grid


def test_forward_pads_windows_and_reads_out_tokens_and_maskclip(raw):
    """mmseg's image-encoder call: a window padded centrally to multiples of p (zeros), its tokens before the last
    block and the MaskCLIP embeddings of the same padded window."""
    img = CLIPImageEncoder(raw.visual)
    x = torch.randn(1, 3, 40, 50)
    xp, pad = pad_to_patch(x, 16)
    assert pad == (7, 7, 4, 4) and xp.shape == (1, 3, 48, 64)                   # (64-50)/2, (48-40)/2
    assert torch.equal(xp[..., 4:44, 7:57], x) and xp[..., :4, :].abs().sum() == 0
    with torch.no_grad():
        f = img(x)
        tokens, grid = img.forward_features(xp)
        dense = img.encode_dense(xp)
    assert f.grid == grid == (3, 4)
    assert torch.equal(f.tokens, tokens) and torch.equal(f.dense, dense)


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
