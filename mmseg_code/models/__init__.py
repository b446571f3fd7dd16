from . import clip, clip_pretrain, training_free, heads, losses, prompts, segmentors  # noqa: F401
