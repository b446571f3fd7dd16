from . import clip, heads, losses, prompts, segmentors  # noqa: F401
