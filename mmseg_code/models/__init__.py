from . import clip, training_free, heads, losses, prompts, segmentors  # noqa: F401
