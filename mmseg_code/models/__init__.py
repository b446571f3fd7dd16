from . import clip, clip_pretrain, heads, losses, prompts, segmentors  # noqa: F401
