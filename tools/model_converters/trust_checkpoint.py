"""Re-save a checkpoint you trust in a form that loads with ``weights_only=True``.

torch >= 2.6 (and so MMEngine, mmseg and this plugin) refuses checkpoints holding Python objects outside torch's
allow-list, because unpickling such a file can run arbitrary code; the tools name the refused global in one line
and point here. This tool is the explicit opt-in: it unpickles FILE fully (only do this for files from a source you
trust) and writes OUT with the model weights and plain-Python metadata only (optimizer state, message hub and other
runtime objects are dropped, so OUT is for testing/fine-tuning, not for ``--resume``).

    python tools/model_converters/trust_checkpoint.py FILE OUT
"""
import argparse
import os.path as osp
import sys
from typing import Any

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from tcl2mmseg import tool  # noqa: E402  (one-line errors: mmseg_code/utils/tool.py, loaded by path)


def to_plain(obj: Any) -> Any:
    """Tensors stay tensors; numpy becomes Python numbers/lists; containers recurse; others → str."""
    if isinstance(obj, torch.Tensor) or obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return str(obj)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('file', help='trusted checkpoint to convert')
    parser.add_argument('out', help='output path')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    args = parser.parse_args(argv)
    try:
        ckpt = torch.load(args.file, map_location='cpu', weights_only=False)  # the user vouches for this file
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as err:  # noqa: BLE001 (UnpicklingError, RuntimeError, EOFError, ...)
        first = (str(err).strip().splitlines() or [''])[0][:200]
        raise tool.UserError(f'{args.file} is not a PyTorch checkpoint ({type(err).__name__}: {first})') from err
    state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = list(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise tool.UserError(f'{args.file}: no state dict of tensors found (keys: {keys})')
    out = dict(state_dict=dict(state), meta=to_plain(ckpt.get('meta', {})) if isinstance(ckpt, dict) else {})
    torch.save(out, args.out)
    print(f'wrote {args.out}: {len(state)} tensors')
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
