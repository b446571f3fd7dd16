"""Config loading shared by ``tools/train.py`` and ``tools/test.py`` (mmseg's command-line conventions)."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_tool_config(config: str, launcher: str, cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """Load ``config``, merge ``--cfg-options`` and set ``launcher`` and ``work_dir``.

    ``work_dir`` priority, as in mmseg: the command line, then the config, then ``./work_dirs/<config name>``.
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
