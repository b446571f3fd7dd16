"""CLIP encoders on open_clip (dense image features, token-level text entry points, tiny configs)."""
from .factory import build_open_clip, list_clip_models, register_tiny_configs
from .image_encoder import CLIPFeatures, CLIPImageEncoder, pad_to_patch, resize_pos_embed, self_attention_block
from .open_clip_model import OpenCLIP
from .resnet_encoder import CLIPResNetEncoder
from .text_encoder import CLIPTextEncoder, build_tokenizer

__all__ = [
    'build_open_clip', 'list_clip_models', 'register_tiny_configs', 'CLIPFeatures', 'CLIPImageEncoder',
    'CLIPResNetEncoder', 'CLIPTextEncoder', 'OpenCLIP', 'build_tokenizer', 'pad_to_patch', 'resize_pos_embed', 'self_attention_block'
]
