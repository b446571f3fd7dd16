"""Distributed training without GPUs (gloo), for ``tools/dist_train.sh`` on CPU-only machines.

MMEngine's ``launcher='pytorch'`` calls ``torch.cuda.set_device`` unconditionally and wraps the model
with ``device_ids=[local_rank]``, so it fails on a machine without CUDA. When no GPU is visible this
initialises the process group with the gloo backend *before* the Runner is built (the Runner then
skips its own initialisation) and asks for a CPU ``MMDistributedDataParallel`` (``device_ids=None``).
With a GPU present nothing is changed and MMEngine's NCCL path is used as usual.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def init_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Set up gloo process-group training when ``launcher='pytorch'`` and CUDA is unavailable.

    Args:
        cfg: the config the Runner will be built from (``model_wrapper_cfg`` and ``env_cfg`` are edited).
        launcher: the ``--launcher`` argument of ``tools/train.py``/``tools/test.py``.
    Returns:
        True when the CPU path was taken.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the torchrun environment (missing {missing}); '
                           f'start it with tools/dist_train.sh or torchrun.')
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800)
        dist.init_process_group(backend='gloo', timeout=datetime.timedelta(seconds=timeout))
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    cfg.setdefault('env_cfg', dict())
    cfg.env_cfg.setdefault('dist_cfg', dict())
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    return True


def teardown_distributed() -> None:
    """Destroy the default process group at the end of a run.

    MMEngine never does; gloo's background threads then die during interpreter shutdown, which was seen to
    abort a rank ("terminate called without an active exception", exit -6) after a finished run. PyTorch asks
    every program to call ``destroy_process_group`` before exiting (NCCL warns otherwise).
    """
    import gc
    gc.collect()  # objects in reference cycles that still hold the process group (DDP reducer, hooks) go now
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # no rank tears its connections down while a peer still talks to it
        dist.destroy_process_group()
        gc.collect()
