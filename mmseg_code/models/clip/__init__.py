"""CLIP encoders on open_clip (dense image features, token-level text entry points, tiny configs)."""
from .block_adapter import BlockOps, TimmViTBlock, block_ops, rope_for_grid
from .convnext_encoder import CLIPConvNeXtEncoder
from .factory import build_open_clip, list_clip_models, register_tiny_configs
from .image_encoder import CLIPFeatures, CLIPImageEncoder, pad_to_patch, resize_pos_embed, self_attention_block
from .open_clip_model import OpenCLIP, build_image_encoder
from .resnet_encoder import CLIPResNetEncoder
from .text_encoder import CLIPTextEncoder, build_tokenizer
from .timm_vit_encoder import CLIPTimmViTEncoder, TokenHead, pool_value_path

__all__ = [
    'build_open_clip', 'list_clip_models', 'register_tiny_configs', 'CLIPFeatures', 'CLIPImageEncoder',
    'CLIPResNetEncoder', 'CLIPTextEncoder', 'OpenCLIP', 'build_tokenizer', 'pad_to_patch', 'resize_pos_embed',
    'self_attention_block', 'BlockOps', 'TimmViTBlock', 'block_ops', 'rope_for_grid', 'CLIPConvNeXtEncoder',
    'CLIPTimmViTEncoder', 'TokenHead', 'pool_value_path', 'build_image_encoder'
]
