from . import clip  # noqa: F401
