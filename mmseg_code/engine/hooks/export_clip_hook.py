"""Export the trained CLIP of a ``CLIPPretrainer`` run as an open_clip checkpoint the segmentors load.

The file is ``dict(state_dict=<open_clip CLIP state dict>, meta=dict(...))`` -- what ``OpenCLIP(model_name,
pretrained=<file>)`` (``open_clip.create_model``) reads -- stored in fp16 by default (loading casts to fp32), with the
token-embedding rows of BPE ids never seen in training set to zero (they hold only their random init; zeros compress
well in git). Beside it, ``<name>_log.json`` holds the meta and every 10th training loss.
"""
import json
import os
import os.path as osp
import time
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ExportCLIPHook(Hook):
    """Write the CLIP after training (module doc).

    Args:
        out: output file; relative paths are under the work dir (default ``<work_dir>/<model_name>.pth``).
        fp16: store floating-point tensors in fp16.
        zero_unseen_tokens: zero the embedding rows of BPE ids the model never tokenised.
    """

    priority = 'VERY_LOW'

    def __init__(self, out: Optional[str] = None, fp16: bool = True, zero_unseen_tokens: bool = True) -> None:
        self.out = out
        self.fp16 = fp16
        self.zero_unseen_tokens = zero_unseen_tokens
        self._metrics = {}
        self._t0 = None

    def before_train(self, runner) -> None:
        self._t0 = time.time()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics:
            self._metrics = {k: float(v) for k, v in metrics.items()}

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        clip = getattr(model, 'clip', None)
        if clip is None:
            raise TypeError(f'ExportCLIPHook: {type(model).__name__} has no open_clip model at .clip')
        state = {k: v.detach().cpu().clone() for k, v in clip.state_dict().items()}
        seen = getattr(model, 'seen_tokens', None)
        if self.zero_unseen_tokens and seen is not None:
            state['token_embedding.weight'][~seen.cpu()] = 0
        if self.fp16:
            state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
        out = self.out or f'{model.model_name}.pth'
        out = out if osp.isabs(out) else osp.join(runner.work_dir, out)
        history = runner.message_hub.get_scalar('train/loss').data[0] if 'train/loss' in \
            runner.message_hub.log_scalars else []
        meta = dict(model_name=model.model_name, iters=int(runner.iter), eval=self._metrics,
                    train_seconds=round(time.time() - self._t0, 1) if self._t0 else None,
                    final_loss=float(sum(history[-50:]) / max(len(history[-50:]), 1)) if len(history) else None,
                    config=osp.basename(str(runner.cfg.filename)) if runner.cfg.filename else None,
                    torch=str(torch.__version__))
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        torch.save(dict(state_dict=state, meta=meta), out)
        with open(osp.splitext(out)[0] + '_log.json', 'w') as f:
            json.dump(dict(meta, loss_history=[float(v) for v in history[::10]]), f)
        runner.logger.info(f'ExportCLIPHook: wrote {out} ({osp.getsize(out) / 1e6:.1f} MB); load it with '
                           f"OpenCLIP(model_name='{model.model_name}', pretrained='{out}')")
