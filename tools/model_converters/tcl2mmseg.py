"""Convert the official TCL release (``kakaobrain/tcl`` v1.0.0 ``tcl.pth``) to this plugin's ``TCL`` module names.

    python tools/model_converters/tcl2mmseg.py tcl.pth checkpoints/tcl_vitb16_mmseg.pth
    python tools/test.py configs/tcl/<eval config>.py checkpoints/tcl_vitb16_mmseg.pth

The release holds only the learned masker (``ckpt['model']``); the frozen CLIP ViT-B/16 comes from the config
(``pretrained='openai'``). Key layout (official → plugin):

    masker.image_encoder.backbone.transformer.resblocks.{11|0}.<p>   → decode_head.block.<p>
        (<p>: ln_1.*, attn.in_proj_weight/bias, attn.out_proj.*, ln_2.*, mlp.c_fc.*, mlp.c_proj.*; same names
        in open_clip)
    masker.image_encoder.decoder.decoder.net.<i>.conv.<q>            → decode_head.decoder.stages.<i>.0.<q>
    masker.image_encoder.decoder.decoder.net.<i>.conv2.<q>           → decode_head.decoder.stages.<i>.1.<q>
        (<q>: norm.weight, norm.bias, conv.weight, conv.bias; gate.gate → gate)
    masker.image_encoder.decoder.image_proj.{ln.weight,ln.bias,proj} → decode_head.image_proj.{...}
    masker.sim2mask.{w,b}                                            → decode_head.sim2mask.{w,b}
    tcli_loss.logit_scale   (TCL_v temperature, log 1/τ)             → loss_seg.infonce_img.logit_scale
    tclf_loss.logit_scale   (TCL_f temperature, log 1/τ)             → loss_seg.infonce_feat.logit_scale

The InfoNCE temperatures are kept (same parametrisation: a scalar log(1/τ), exp clamped at 100), so training resumed
from a converted checkpoint continues with the learned temperatures instead of restarting them at 1/0.07; a release
without them loads too (the loss modules are optional prefixes of the plugin's segmentors), and they play no part in
inference. ``--drop-temperatures`` leaves them out.

Dropped: a leading ``module.``; ``clip_*`` and ``frozen_clip.*`` (frozen CLIP copies), other ``*_loss.*`` keys,
``pamr.*`` (buffers), ``masker.image_encoder.backbone.{ln_post,proj}`` (Identity/None in the release). Any other key is
an error (the layout is not the one documented), unless ``--allow-unknown``.
Output: an mmengine checkpoint ``{'state_dict': ..., 'meta': {...}}`` loadable by ``tools/test.py``,
``MMSegInferencer`` and ``OVSegInferencer`` (missing ``clip.*`` keys are expected: CLIP comes from the config).
"""
from __future__ import annotations

import argparse
import importlib.util
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Callable, Optional

import torch


def _tool_helper():
    """This checkout's ``mmseg_code/utils/tool.py`` (one-line errors), loaded without the package import."""
    name = 'mmseg_code.utils.tool'
    if name not in sys.modules:
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        spec = importlib.util.spec_from_file_location(name, osp.join(root, 'mmseg_code', 'utils', 'tool.py'))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tool = _tool_helper()


class LayoutKeyError(tool.UserError, KeyError):
    """A key outside the documented layout, or no masker key at all (one line from the command line)."""


class LayoutValueError(tool.UserError, ValueError):
    """A tensor of the documented layout with an unexpected shape or count (one line from the command line)."""


class UnreadableCheckpointError(tool.UserError, RuntimeError):
    """The source is not a checkpoint ``torch.load`` reads, or is refused under ``weights_only=True``."""

BLOCK = re.compile(r'^masker\.image_encoder\.backbone\.transformer\.resblocks\.(\d+)\.(.+)$')
DECODER = re.compile(r'^masker\.image_encoder\.decoder\.decoder\.net\.(\d+)\.(conv|conv2)\.(.+)$')
PROJ = re.compile(r'^masker\.image_encoder\.decoder\.image_proj\.(ln\.weight|ln\.bias|proj)$')
SIM2MASK = re.compile(r'^masker\.sim2mask\.(w|b)$')
DROP = [
    re.compile(r'^(frozen_)?clip_'), re.compile(r'^frozen_clip\.'), re.compile(r'(^|\.)[a-z]*_loss\.'),
    re.compile(r'^pamr\.'), re.compile(r'^masker\.image_encoder\.backbone\.(ln_post\.|proj$)'),
]
# official loss temperature → plugin key (TCL's InfoNCE modules; code2mmseg adds CoDe's hcl_loss)
TEMPERATURES = {'tcli_loss.logit_scale': 'loss_seg.infonce_img.logit_scale',
                'tclf_loss.logit_scale': 'loss_seg.infonce_feat.logit_scale'}
BLOCK_PARAMS = {'ln_1.weight', 'ln_1.bias', 'attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight',
                'attn.out_proj.bias', 'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias',
                'mlp.c_proj.weight', 'mlp.c_proj.bias'}
CONV_PARAMS = {'norm.weight': 'norm.weight', 'norm.bias': 'norm.bias', 'conv.weight': 'conv.weight',
               'conv.bias': 'conv.bias', 'gate.gate': 'gate'}


def extract_state_dict(ckpt) -> dict:
    """The state dict of an official checkpoint (``ckpt['model']``), an mmengine one (``state_dict``) or a bare one."""
    if isinstance(ckpt, dict):
        for key in ('model', 'state_dict'):
            if key in ckpt and isinstance(ckpt[key], dict):
                return ckpt[key]
        return ckpt
    raise LayoutValueError(f'unexpected checkpoint content: {type(ckpt).__name__}, not a dict of tensors')


def strip_module(state_dict: dict) -> dict:
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())


def is_dropped(key: str) -> bool:
    return any(p.search(key) for p in DROP)


def convert_masker_key(key: str, block_index: Optional[int]) -> Optional[str]:
    """Plugin name of a TCL masker key, or None if the key is not a masker parameter."""
    m = BLOCK.match(key)
    if m:
        if block_index is not None and int(m.group(1)) != block_index:
            raise LayoutValueError(f'{key}: the release should hold one copied block, found indices '
                             f'{block_index} and {m.group(1)}')
        if m.group(2) not in BLOCK_PARAMS:
            raise LayoutKeyError(f'{key}: unknown parameter of the copied ViT block')
        return f'decode_head.block.{m.group(2)}'
    m = DECODER.match(key)
    if m:
        stage, which, param = m.groups()
        if param not in CONV_PARAMS:
            raise LayoutKeyError(f'{key}: unknown parameter of a gated conv block')
        return f'decode_head.decoder.stages.{stage}.{0 if which == "conv" else 1}.{CONV_PARAMS[param]}'
    m = PROJ.match(key)
    if m:
        return f'decode_head.image_proj.{m.group(1)}'
    m = SIM2MASK.match(key)
    if m:
        return f'decode_head.sim2mask.{m.group(1)}'
    return None


def block_index_of(state_dict: dict) -> Optional[int]:
    idx = {int(m.group(1)) for m in map(BLOCK.match, state_dict) if m}
    if len(idx) > 1:
        raise LayoutValueError(f'the masker holds several ViT blocks {sorted(idx)}; the plugin copies only the last '
                               'one')
    return idx.pop() if idx else None


def convert_temperature(key: str, value: torch.Tensor, temperatures: dict) -> Optional[tuple]:
    """Plugin (name, scalar tensor) of an official loss temperature, or None if ``key`` is not one."""
    if key not in temperatures:
        return None
    if value.numel() != 1:
        raise LayoutValueError(f'{key}: expected a scalar logit scale, got shape {tuple(value.shape)}')
    return temperatures[key], value.reshape(())


def convert(state_dict: dict, extra: Optional[Callable[[str, torch.Tensor], Optional[tuple]]] = None,
            allow_unknown: bool = False, temperatures: Optional[dict] = None,
            keep_temperatures: bool = True) -> tuple[OrderedDict, list, list]:
    """Convert an official state dict.

    Args:
        state_dict: official keys (``module.`` prefixes allowed).
        extra: optional ``(key, tensor) -> (new_key, new_tensor) | None`` for method-specific keys (CoDe).
        allow_unknown: skip unknown keys instead of raising.
        temperatures: official → plugin names of the loss temperatures (default :data:`TEMPERATURES`).
        keep_temperatures: convert the loss temperatures (else they are dropped).
    Returns:
        ``(converted, dropped_keys, unknown_keys)``.
    """
    temperatures = TEMPERATURES if temperatures is None else temperatures
    state_dict = strip_module(state_dict)
    block_index = block_index_of(state_dict)
    out, dropped, unknown = OrderedDict(), [], []
    for key, value in state_dict.items():
        new = convert_masker_key(key, block_index)
        if new is not None:
            out[new] = value
            continue
        got = convert_temperature(key, value, temperatures) if keep_temperatures else None
        if got is not None:
            out[got[0]] = got[1]
            continue
        got = extra(key, value) if extra is not None else None
        if got is not None:
            out[got[0]] = got[1]
            continue
        if is_dropped(key):
            dropped.append(key)
            continue
        unknown.append(key)
    if unknown and not allow_unknown:
        raise LayoutKeyError(f'{len(unknown)} key(s) not in the documented layout (use --allow-unknown to skip): '
                       f'{unknown[:10]}')
    if not any(k.startswith('decode_head.') for k in out):
        raise LayoutKeyError('no masker key (masker.image_encoder.* / masker.sim2mask.*) found: not a TCL/CoDe '
                             'checkpoint')
    return out, dropped, unknown


def save(out: OrderedDict, path: str, source: str, meta: Optional[dict] = None) -> None:
    # dataset_meta without classes: mmseg's init_model / MMSegInferencer then keep the config's vocabulary instead of
    # guessing classes from the decode head's num_classes, which a vocabulary-free head does not have.
    info = dict(converted_from=source, converter='tools/model_converters',
                dataset_meta=dict(classes=None, palette=None))
    info.update(meta or {})
    torch.save({'state_dict': out, 'meta': info}, path)


def load(path: str, trust: bool = False) -> dict:
    """Read a checkpoint with ``weights_only=True``; ``trust`` unpickles fully (official releases also pickle their
    OmegaConf config: only for files from a source you trust)."""
    if trust:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as err:  # noqa: BLE001 (torch raises UnpicklingError, RuntimeError, EOFError, ... here)
        tool.setup_repo(__file__)
        from mmseg_code.utils.checkpoint import refused_global  # the package import (seconds): on this path only
        what = refused_global(str(err))
        if 'GLOBAL' in str(err):
            raise UnreadableCheckpointError(
                f'{path} holds Python objects besides tensors ({what}; the official release pickles its OmegaConf '
                f'config), so it was not unpickled. If you trust the file (e.g. the release downloaded from the '
                f'authors), pass --trust.') from err
        raise UnreadableCheckpointError(f'{path} is not a PyTorch checkpoint ({type(err).__name__}: {what})') from err


def parse_args(argv=None, description: str = __doc__) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description.split('\n\n')[0])
    p.add_argument('src', help='official checkpoint')
    p.add_argument('dst', help='output checkpoint for this plugin')
    p.add_argument('--allow-unknown', action='store_true', help='skip keys outside the documented layout')
    p.add_argument('--trust', action='store_true',
                   help='unpickle the source fully (it pickles its config); only for files you trust')
    p.add_argument('--drop-temperatures', action='store_true',
                   help='leave out the loss temperatures (kept by default, for resuming training)')
    p.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return p.parse_args(argv)


def report(out: OrderedDict, dropped: list, unknown: list, dst: str) -> None:
    temps = sum(1 for k in out if k.endswith('logit_scale') and 'loss' in k)
    print(f'converted {len(out)} tensors ({temps} loss temperatures), dropped {len(dropped)} (CLIP copies, PAMR '
          f'buffers), skipped {len(unknown)} unknown -> {dst}')


def main(argv=None) -> int:
    args = parse_args(argv)
    sd = extract_state_dict(load(args.src, args.trust))
    out, dropped, unknown = convert(sd, allow_unknown=args.allow_unknown,
                                    keep_temperatures=not args.drop_temperatures)
    save(out, args.dst, 'TCL release (kakaobrain/tcl)')
    report(out, dropped, unknown, args.dst)
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
