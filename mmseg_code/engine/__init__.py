from . import hooks, optim_wrapper_constructor  # noqa: F401
