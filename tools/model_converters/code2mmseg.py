"""Convert the official CoDe checkpoint (``072jiajia/Image-Text-Co-Decomposition`` ``checkpoint.pth``) to this plugin's
``CoDe`` module names.

    python tools/model_converters/code2mmseg.py checkpoint.pth checkpoints/code_vitb16_mmseg.pth --trust
    python tools/test.py configs/code/<eval config>.py checkpoints/code_vitb16_mmseg.pth

The official file is a full training checkpoint (``ckpt['model']`` with every CLIP copy, plus optimizer state and
its OmegaConf config, hence ``--trust``). Key layout (official → plugin), on top of TCL's masker keys
(see ``tcl2mmseg.py``; CoDe's decoder has one gated block per stage, ``net.<i>.conv`` only):

    clip_text_encoder.prompt_learner.ctx          [16, 512]       → text_encoder.noun_prompt.ctx    (KgCoOp context)
    learnable_image_bg                            [1, 3, 224, 224] → region_prompt.prompt           (P_v)
    bg_text                                       [77, 1, 512]    → word_prompt.prompt [77, 512]   (P_t)
    text_decoder.transformer.resblocks.<i>.<p>                    → text_segmenter.blocks.<i>.<p>  (2 blocks)
    text_mask_w, text_mask_b                                      → text_segmenter.logit_scale, .logit_bias
    tcli_loss.logit_scale, tclf_loss.logit_scale                  → loss_seg.infonce_{img,feat}.logit_scale
    hcl_loss.logit_scale    (L_hcl temperature, log 1/τ)          → hcl_loss.logit_scale

The three InfoNCE temperatures are kept (``--drop-temperatures`` leaves them out), so resumed training continues with
the learned values instead of 1/0.07. Dropped: ``module.``; ``frozen_clip.*``, ``clip_image_encoder.*``,
``clip_text_encoder.*`` other than ``ctx`` (frozen CLIP copies and the derived ``token_prefix`` buffer); ``pamr.*``.
For inference only the masker and ``text_encoder.noun_prompt.ctx`` matter (CoDe's masker prompts bare class names with
the learned context).
"""
from __future__ import annotations

import os.path as osp
import re
import sys
from typing import Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import tcl2mmseg  # noqa: E402

TEXT_BLOCK = re.compile(r'^text_decoder\.transformer\.resblocks\.(\d+)\.(.+)$')
TEMPERATURES = dict(tcl2mmseg.TEMPERATURES, **{'hcl_loss.logit_scale': 'hcl_loss.logit_scale'})


def convert_code_key(key: str, value: torch.Tensor) -> Optional[tuple]:
    """Plugin (name, tensor) of a CoDe-specific key, or None."""
    if key == 'clip_text_encoder.prompt_learner.ctx':
        return 'text_encoder.noun_prompt.ctx', value
    if key == 'learnable_image_bg':
        return 'region_prompt.prompt', value
    if key == 'bg_text':
        if value.dim() != 3 or value.shape[1] != 1:
            raise tcl2mmseg.LayoutValueError(f'bg_text: expected [L, 1, C], got {tuple(value.shape)}')
        return 'word_prompt.prompt', value[:, 0, :].contiguous()
    if key == 'text_mask_w':
        return 'text_segmenter.logit_scale', value
    if key == 'text_mask_b':
        return 'text_segmenter.logit_bias', value
    m = TEXT_BLOCK.match(key)
    if m:
        if m.group(2) not in tcl2mmseg.BLOCK_PARAMS:
            raise tcl2mmseg.LayoutKeyError(f'{key}: unknown parameter of a text-segmenter block')
        return f'text_segmenter.blocks.{m.group(1)}.{m.group(2)}', value
    return None


def convert(state_dict: dict, allow_unknown: bool = False, keep_temperatures: bool = True):
    """``(converted, dropped_keys, unknown_keys)`` for an official CoDe state dict."""
    return tcl2mmseg.convert(state_dict, extra=convert_code_key, allow_unknown=allow_unknown,
                             temperatures=TEMPERATURES, keep_temperatures=keep_temperatures)


def main(argv=None) -> int:
    args = tcl2mmseg.parse_args(argv, description=__doc__)
    sd = tcl2mmseg.extract_state_dict(tcl2mmseg.load(args.src, args.trust))
    out, dropped, unknown = convert(sd, allow_unknown=args.allow_unknown, keep_temperatures=not args.drop_temperatures)
    tcl2mmseg.save(out, args.dst, 'CoDe release (072jiajia/Image-Text-Co-Decomposition)')
    tcl2mmseg.report(out, dropped, unknown, args.dst)
    return 0


if __name__ == '__main__':
    sys.exit(tcl2mmseg.tool.run_tool(main))
