"""Building open_clip models: the plugin's tiny configs, pretrained tags and local checkpoint files.

The real path and the test path are the same code: ``build_open_clip('ViT-B-16', pretrained='openai')``
downloads OpenAI's weights through open_clip; ``pretrained='/path/to/weights.pt'`` loads a local
state dict (``weights_only`` loading); ``pretrained=None`` gives a random init, which is what tests and
the CPU demo use with the tiny configs in ``model_configs/``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import open_clip
import torch

TINY_CONFIG_DIR = Path(__file__).parent / 'model_configs'
_registered = False


def register_tiny_configs() -> None:
    """Add the plugin's small open_clip architectures (``mmcode-tiny-*``) to open_clip's registry."""
    global _registered
    if not _registered:
        open_clip.add_model_config(TINY_CONFIG_DIR)
        _registered = True


def list_clip_models() -> list[str]:
    """All architecture names ``build_open_clip`` accepts (open_clip's plus the tiny ones)."""
    register_tiny_configs()
    return open_clip.list_models()


def _looks_like_path(pretrained: str) -> bool:
    return os.path.sep in pretrained or pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors'))


def build_open_clip(model_name: str,
                    pretrained: Optional[str] = None,
                    cache_dir: Optional[str] = None,
                    force_quick_gelu: bool = False) -> torch.nn.Module:
    """Build an open_clip ``CLIP`` model in fp32 on the CPU.

    Args:
        model_name: an open_clip architecture (``ViT-B-16``) or a plugin tiny one (``mmcode-tiny-vit-p16``).
        pretrained: ``None`` (random init), an open_clip pretrained tag (``openai``, ``laion2b_s34b_b88k``…)
            or the path of a local checkpoint file (a state dict, optionally under ``state_dict``).
        cache_dir: where open_clip caches downloaded weights.
        force_quick_gelu: use QuickGELU (OpenAI's activation) with a random init or a local file of
            OpenAI-trained weights; open_clip sets it itself for the ``openai`` tag.
    """
    register_tiny_configs()
    known = open_clip.list_models()
    if model_name not in known:
        close = [m for m in known if model_name.lower().replace('/', '-') in m.lower()][:5]
        hint = f' Did you mean one of {close}?' if close else ''
        raise ValueError(f'Unknown CLIP model name {model_name!r}: open_clip knows {len(known)} models '
                         f'(see mmseg_code.models.clip.list_clip_models()).{hint}')
    if pretrained and _looks_like_path(pretrained) and not os.path.isfile(pretrained):
        raise FileNotFoundError(f'CLIP checkpoint file not found: {pretrained}')
    model = open_clip.create_model(
        model_name,
        pretrained=pretrained or None,
        cache_dir=cache_dir,
        force_quick_gelu=force_quick_gelu,
        precision='fp32',
        device='cpu',
    )
    return model
