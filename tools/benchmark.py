"""Zero-shot evaluation on every benchmark whose data is present: the paper's Table 1, with and without PAMR.

    python tools/benchmark.py CONFIG CHECKPOINT --data-root data [--benchmarks voc21 ade20k ...]
        [--pamr both|on|off] [--out-dir DIR] [--cfg-options k=v ...]

``CONFIG`` is a model config of the plugin (TCL, CoDe, the training-free MaskCLIP/SCLIP/ClearCLIP/NACLIP, …; its
dataset parts are replaced), ``CHECKPOINT`` its weights (or ``none``: the training-free models have none). For each
benchmark config ``configs/_base_/datasets/<name>.py`` (or any dataset config path given in ``--benchmarks``) whose
data lies under ``--data-root``, the model gets the benchmark's protocol (``benchmark.model``: vocabulary +
``test_cfg``) and is evaluated by mmseg's ``IoUMetric``:

    PAMR on  : test_cfg.pamr=True,  bg_thresh 0.4 (benchmarks with background)
    PAMR off : test_cfg.pamr=False, bg_thresh 0.5

then the model config's own ``benchmark_protocol`` (optional): ``test_cfg`` keys applied after those (the
training-free configs keep their probability threshold 0.1 and no KP mix), ``name`` (the table's row label, default
``ours``; ``--name`` wins), ``tuned_per_benchmark`` (False: one protocol for every benchmark).

Missing datasets are skipped with a line saying what is missing; when none is there, the command ends with one
error line and exit status 2 (after writing the tables with the papers' rows). Written to ``--out-dir``
(default ``work_dirs/benchmark/<checkpoint name>``): ``table.md`` and ``table.csv`` and ``results.json``. The table
has a row per PAMR setting with the columns "PAMR" (yes/no), "tuned per benchmark" (yes/no), the per-benchmark mIoU,
TCL's 8-benchmark and CoDe's 6-benchmark averages and images/s measured in this run (images evaluated over the wall
time of their test runs: model building excluded, data loading and text embeddings included); then the published
numbers as reference rows (TCL, CoDe; MaskCLIP as re-run by SCLIP, SCLIP, ClearCLIP, NACLIP: protocols tuned per
benchmark). ``--cfg-options`` is applied to every run after the protocol (e.g. ``model.test_cfg.kp_weight=0``).
``--dump-configs`` writes the full per-benchmark test configs instead (for ``tools/test.py`` / ``dist_test.sh``).
"""
from __future__ import annotations

import argparse
import copy
import csv
import difflib
import glob
import importlib.util
import json
import os
import os.path as osp
import sys
import time
from typing import Optional

from mmengine.config import Config  # light (no torch); the plugin is imported in main()


def _tool_helper():
    """This checkout's ``mmseg_code/utils/tool.py``, loaded without the package import (which takes seconds)."""
    name = 'mmseg_code.utils.tool'
    if name not in sys.modules:
        path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmseg_code', 'utils', 'tool.py')
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tool = _tool_helper()
ROOT = tool.setup_repo(__file__)  # this checkout's mmseg_code and projects/* (configs' custom_imports), any cwd
DATASET_DIR = osp.join(ROOT, 'configs', '_base_', 'datasets')
# Table 1 order (TCL's 8); CoDe's Table 1 uses the 6 without VOC20/Context59.
BENCHMARKS = ['voc21', 'context60', 'coco_object', 'voc20', 'context59', 'coco_stuff171', 'cityscapes', 'ade20k']
AVG6 = ['voc21', 'context60', 'coco_object', 'coco_stuff171', 'cityscapes', 'ade20k']
PREPARE_HINT = 'see docs/evaluation.md ("Preparing the datasets")'
# label maps that only exist after conversion
CONVERTED = {
    'coco_object': ('*_instanceTrainIds.png', 'run tools/dataset_converters/coco_object.py'),
    'coco_stuff171': ('*_labelTrainIds.png', "run mmseg's tools/dataset_converters/coco_stuff164k.py"),
    'cityscapes': ('*/*_gtFine_labelTrainIds.png', "run mmseg's tools/dataset_converters/cityscapes.py"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Zero-shot benchmark table (TCL/CoDe Table 1)')
    p.add_argument('config', help='model config of the plugin')
    p.add_argument('checkpoint', help='checkpoint file, or "none"')
    p.add_argument('--data-root', default='data', help='folder holding VOCdevkit/, coco_stuff164k/, cityscapes/, ade/')
    p.add_argument('--benchmarks', nargs='+', default=BENCHMARKS,
                   help=f'names ({", ".join(BENCHMARKS)}) or dataset config paths')
    p.add_argument('--pamr', choices=['both', 'on', 'off'], default='both')
    p.add_argument('--out-dir', help='where table.md, table.csv, results.json go')
    p.add_argument('--name', help="row label of this model (default: the config's benchmark_protocol.name, or 'ours')")
    p.add_argument('--work-dir', help='work dir of the runs (logs); default <out-dir>/runs')
    tool.add_cfg_options_arg(p, 'overrides applied to every run (after the benchmark protocol)')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--dump-configs', action='store_true',
                   help='only write the full per-benchmark test configs (<out-dir>/configs/<name>_{pamr,nopamr}.py, '
                        'for tools/test.py / dist_test.sh) and exit')
    tool.add_debug_arg(p)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------- benchmark configs
def benchmark_config_path(name: str) -> str:
    if name.endswith('.py'):
        return tool.resolve_path(name, ROOT, 'benchmark config')
    path = osp.join(DATASET_DIR, f'{name}.py')
    if not osp.isfile(path):
        known = [osp.splitext(n)[0] for n in sorted(os.listdir(DATASET_DIR)) if n.endswith('.py')]
        close = difflib.get_close_matches(name, known, n=1)
        raise tool.UserError(f'unknown benchmark {name!r}' + (f'; did you mean {close[0]!r}?' if close else '') +
                             f' (known: {", ".join(BENCHMARKS)}, or a dataset config path)')
    return path


def load_benchmark(name: str) -> Config:
    cfg = Config.fromfile(benchmark_config_path(name))
    if 'test_dataloader' not in cfg:
        raise tool.UserError(f'{name}: the dataset config has no test_dataloader')
    return cfg


def benchmark_info(bcfg: Config, name: str) -> dict:
    """``benchmark`` dict of a dataset config; configs without one get the dataset's classes as vocabulary."""
    info = dict(bcfg.get('benchmark', None) or {})
    info.setdefault('name', osp.splitext(osp.basename(name))[0])
    info.setdefault('title', info['name'])
    info.setdefault('paper', {})
    info.setdefault('model', {})
    return info


def dataset_root(bcfg: Config, info: dict, data_root: Optional[str]) -> str:
    if data_root is not None and info.get('data_subdir'):
        return osp.join(data_root, info['data_subdir'])
    return bcfg.test_dataloader.dataset.get('data_root', '') or ''


def missing_reason(bcfg: Config, info: dict, root: str) -> Optional[str]:
    """None if the benchmark's files are there, else a one-line reason."""
    ds = bcfg.test_dataloader.dataset
    prefix = ds.get('data_prefix', {}) or {}
    if not osp.isdir(root):
        return f'{root} not found'
    for key in ('img_path', 'seg_map_path'):
        if prefix.get(key) and not osp.isdir(osp.join(root, prefix[key])):
            return f'{osp.join(root, prefix[key])} not found'
    if ds.get('ann_file') and not osp.isfile(osp.join(root, ds.ann_file)):
        return f'{osp.join(root, ds.ann_file)} not found'
    if info['name'] in CONVERTED and prefix.get('seg_map_path'):
        pattern, hint = CONVERTED[info['name']]
        if next(glob.iglob(osp.join(root, prefix['seg_map_path'], pattern)), None) is None:
            return f'no {pattern} under {osp.join(root, prefix["seg_map_path"])}: {hint}'
    return None


def _vocabulary_from_dataset(bcfg: Config) -> list:
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    ds_cfg = copy.deepcopy(bcfg.test_dataloader.dataset)
    ds_cfg['lazy_init'] = True
    return list(DATASETS.build(ds_cfg).metainfo['classes'])


def build_run_config(model_cfg: Config, bcfg: Config, info: dict, root: str, pamr: bool, checkpoint: Optional[str],
                     work_dir: str, cfg_options: Optional[dict] = None) -> Config:
    """The model config with the benchmark's data, protocol and the PAMR setting (bg_thresh 0.4 / 0.5)."""
    cfg = copy.deepcopy(model_cfg)
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler', 'val_dataloader', 'val_cfg',
                'val_evaluator', 'auto_scale_lr', 'resume'):
        cfg[key] = None
    cfg.test_dataloader = copy.deepcopy(bcfg.test_dataloader)
    cfg.test_dataloader.dataset.data_root = root
    cfg.test_evaluator = bcfg.get('test_evaluator', dict(type='IoUMetric', iou_metrics=['mIoU']))
    if not cfg.get('test_cfg') or cfg.test_cfg.get('type') is None:
        cfg.test_cfg = dict(type='TestLoop')
    proto = info.get('model', {})
    vocabulary = proto.get('vocabulary') or _vocabulary_from_dataset(bcfg)
    cfg.model.vocabulary = vocabulary
    test_cfg = dict(cfg.model.get('test_cfg', None) or {})
    test_cfg.update(proto.get('test_cfg', {}))
    test_cfg['pamr'] = pamr
    test_cfg['bg_thresh'] = 0.4 if pamr else 0.5
    test_cfg.update((cfg.get('benchmark_protocol', None) or {}).get('test_cfg', {}))    # the method's own keys
    cfg.model.test_cfg = test_cfg
    cfg.setdefault('default_scope', 'mmseg')
    hooks = cfg.get('default_hooks', None) or {}
    if hooks.get('visualization'):
        # mmseg's SegVisualizationHook reads runner.iter, which needs the train loop removed above
        hooks['visualization']['draw'] = False
    cfg.load_from = checkpoint
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{info["name"]}_{"pamr" if pamr else "nopamr"}_{time.strftime("%Y%m%d_%H%M%S")}'
    if cfg_options:
        from mmseg_code.utils.cfg_options import check_cfg_options, check_merged_options
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
        check_merged_options(cfg, cfg_options)
    return cfg


def run_test(cfg: Config) -> tuple[dict, int, float]:
    """Metrics, number of images and seconds of ``runner.test()`` (after the model is built)."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    metrics = dict(runner.test())
    return metrics, len(runner.test_dataloader.dataset), time.perf_counter() - start


def method_info(model_cfg: Config, name: Optional[str] = None) -> dict:
    """Row label and "tuned per benchmark" of the model (``benchmark_protocol`` of its config)."""
    proto = model_cfg.get('benchmark_protocol', None) or {}
    return dict(name=name or proto.get('name') or 'ours', tuned=bool(proto.get('tuned_per_benchmark', False)))


# ----------------------------------------------------------------------------------------------- tables
def _fmt(v: Optional[float]) -> str:
    return '–' if v is None else f'{v:.1f}'


def averages(values: dict) -> tuple[Optional[float], bool, Optional[float], bool]:
    """(avg8, complete8, avg6, complete6) over the benchmarks present in ``values``."""
    out = []
    for names in (BENCHMARKS, AVG6):
        got = [values[n] for n in names if values.get(n) is not None]
        out += [sum(got) / len(got) if got else None, len(got) == len(names)]
    return tuple(out)  # type: ignore[return-value]


# reference rows: (key in the dataset configs' ``benchmark.paper[setting]``, setting, label, tuned per benchmark).
# TCL/CoDe evaluate every benchmark with one protocol; the training-free releases set the short side, window, logit
# scale or threshold per dataset (SCLIP's, ClearCLIP's and NACLIP's configs).
PAPER_ROWS = (('TCL', 'pamr', 'TCL paper (PAMR)', False),
              ('TCL', 'no_pamr', 'TCL release, no PAMR (MGCA Tab. 1/2)', False),
              ('CoDe', 'pamr', 'CoDe paper (PAMR)', False),
              ('MaskCLIP', 'no_pamr', 'MaskCLIP, SCLIP re-run', True),
              ('SCLIP', 'no_pamr', 'SCLIP paper', True),
              ('ClearCLIP', 'no_pamr', 'ClearCLIP paper', True),
              ('NACLIP', 'no_pamr', 'NACLIP paper', True),
              ('NACLIP', 'pamr', 'NACLIP release (PAMR)', True))


def table_rows(results: dict, infos: dict, method: Optional[dict] = None, speed: Optional[dict] = None) -> list[dict]:
    """Rows of Table 1: this model (PAMR / no PAMR; label ``method['name']``) then the papers' numbers (reference).

    ``speed``: per setting ``(images, seconds)`` of this run. TCL's and CoDe's paper protocols are one protocol for
    every benchmark ("tuned per benchmark": no)."""
    method = method or dict(name='ours', tuned=False)
    rows = []
    for setting in ('pamr', 'no_pamr'):
        if setting in results:
            images, seconds = (speed or {}).get(setting, (0, 0.0))
            rows.append(dict(source='ours', method=f'{method["name"]} ({"PAMR" if setting == "pamr" else "no PAMR"})',
                             setting=setting, values=dict(results[setting]), tuned=method['tuned'],
                             ips=images / seconds if seconds > 0 else None))
    names = [n for n in BENCHMARKS if n in infos]
    for method, setting, label, tuned in PAPER_ROWS:
        vals = {n: infos[n]['paper'].get(setting, {}).get(method) for n in names}
        if any(v is not None for v in vals.values()):
            rows.append(dict(source='paper', method=label, setting=setting, values=vals, tuned=tuned, ips=None))
    return rows


def render_markdown(rows: list[dict], columns: list[str], titles: dict, missing: dict) -> str:
    head = ['method', 'PAMR', 'tuned per benchmark'] + [titles[c] for c in columns] + ['Avg (8)', 'Avg (6)', 'img/s']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    partial = False
    for row in rows:
        a8, c8, a6, c6 = averages(row['values'])
        cells = [row['method'], _yes(row['setting'] == 'pamr'), _yes(row.get('tuned'))]
        cells += [_fmt(row['values'].get(c)) for c in columns]
        for avg, complete in ((a8, c8), (a6, c6)):
            if avg is not None and not complete and row['source'] == 'ours':
                partial = True
                cells.append(_fmt(avg) + '*')
            else:
                cells.append(_fmt(avg) if complete else '–')
        cells.append('–' if row.get('ips') is None else f'{row["ips"]:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    notes = ['', 'mIoU (%). Avg (8): mean of the 8 benchmarks (TCL Table 1); Avg (6): VOC, Context, Object, Stuff, '
             'City, ADE (CoDe Table 1). Paper rows are the published numbers, for reference only. PAMR: mask '
             'refinement at test time; tuned per benchmark: protocol settings (thresholds, scales) chosen per '
             'dataset. img/s: images per second of this run (all its benchmarks, wall time of the test loops).']
    if partial:
        notes.append('\\* mean over the benchmarks evaluated here only (not comparable with the paper average).')
    for name, reason in missing.items():
        notes.append(f'- {titles.get(name, name)} ({name}) not evaluated: {reason}')
    return '\n'.join(lines + notes) + '\n'


def _yes(flag) -> str:
    return 'yes' if flag else 'no'


def write_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['source', 'method', 'setting', 'pamr', 'tuned_per_benchmark'] + columns +
                   ['avg8', 'avg6', 'images_per_s'])
        for row in rows:
            a8, c8, a6, c6 = averages(row['values'])
            vals = ['' if row['values'].get(c) is None else f'{row["values"][c]:.2f}' for c in columns]
            w.writerow([row['source'], row['method'], row['setting'], _yes(row['setting'] == 'pamr'),
                        _yes(row.get('tuned'))] + vals +
                       ['' if a8 is None or not c8 else f'{a8:.2f}', '' if a6 is None or not c6 else f'{a6:.2f}',
                        '' if row.get('ips') is None else f'{row["ips"]:.3f}'])


# ----------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = tool.resolve_path(args.config, ROOT, 'config')
    checkpoint = tool.resolve_checkpoint(args.checkpoint, ROOT)
    if not osp.isdir(args.data_root) and osp.isdir(osp.join(ROOT, args.data_root)):
        args.data_root = osp.join(ROOT, args.data_root)  # the README's `--data-root data`, run from elsewhere
    for name in args.benchmarks:
        benchmark_config_path(name)  # an unknown name or a missing config fails here, before the plugin's import
    stem = osp.splitext(osp.basename(checkpoint or args.config))[0]
    out_dir = tool.ensure_writable_dir(args.out_dir or osp.join('work_dirs', 'benchmark', stem), '--out-dir')
    work_dir = args.work_dir or osp.join(out_dir, 'runs')
    tool.ensure_writable_dir(work_dir, '--work-dir')

    import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmseg_code.utils import load_config
    model_cfg = load_config(args.config)  # --cfg-options: checked and applied per run (they may name the dataset)
    if args.launcher != 'none':
        from mmseg_code.compat import init_cpu_distributed
        model_cfg.launcher = args.launcher
        init_cpu_distributed(model_cfg, args.launcher)
    settings = {'both': [True, False], 'on': [True], 'off': [False]}[args.pamr]

    infos, roots, missing = {}, {}, {}
    for name in args.benchmarks:
        bcfg = load_benchmark(name)
        info = benchmark_info(bcfg, name)
        root = dataset_root(bcfg, info, args.data_root)
        reason = missing_reason(bcfg, info, root)
        infos[info['name']] = dict(info, _cfg=bcfg)
        roots[info['name']] = root
        if reason:
            missing[info['name']] = f'{reason} ({PREPARE_HINT})'
            print(f'[benchmark] SKIP {info["name"]}: {missing[info["name"]]}', flush=True)
        else:
            print(f'[benchmark] found {info["name"]} at {root}', flush=True)
    for name, info in infos.items():  # --cfg-options: one line for a bad key before any run
        build_run_config(model_cfg, info['_cfg'], info, roots[name], settings[0], checkpoint, work_dir,
                         args.cfg_options)

    if args.dump_configs:
        cfg_dir = osp.join(out_dir, 'configs')
        os.makedirs(cfg_dir, exist_ok=True)
        for pamr in settings:
            for name, info in infos.items():
                cfg = build_run_config(model_cfg, info['_cfg'], info, roots[name], pamr, checkpoint, work_dir,
                                       args.cfg_options)
                cfg.pop('experiment_name', None)
                path = osp.join(cfg_dir, f'{name}_{"pamr" if pamr else "nopamr"}.py')
                cfg.dump(path)
                print(f'[benchmark] wrote {path}')
        print(f'[benchmark] run one with: python tools/test.py {cfg_dir}/<name>_pamr.py {args.checkpoint}')
        return 0

    results: dict = {}
    metrics_all: dict = {}
    speed: dict = {}                         # setting -> [images, seconds]
    for pamr in settings:
        key = 'pamr' if pamr else 'no_pamr'
        for name, info in infos.items():
            if name in missing:
                continue
            cfg = build_run_config(model_cfg, info['_cfg'], info, roots[name], pamr, checkpoint, work_dir,
                                   args.cfg_options)
            thr = cfg.model.test_cfg['bg_thresh']
            bg = f', bg_thresh {thr}' if info.get('background') else ''
            print(f'[benchmark] === {name} ({"PAMR" if pamr else "no PAMR"}{bg}) ===', flush=True)
            metrics, images, seconds = run_test(cfg)
            metrics = {k: float(v) for k, v in metrics.items()}
            metrics['images'], metrics['seconds'] = images, seconds
            acc = speed.setdefault(key, [0, 0.0])
            acc[0] += images
            acc[1] += seconds
            metrics_all.setdefault(key, {})[name] = metrics
            results.setdefault(key, {})[name] = float(metrics['mIoU'])
            print(f'[benchmark] {name} {"PAMR" if pamr else "no PAMR"}: mIoU {metrics["mIoU"]:.2f}', flush=True)

    from mmengine.dist import get_rank
    nothing = (f'nothing was evaluated: no benchmark data found under --data-root {args.data_root} (the SKIP lines '
               f'say what is missing; {PREPARE_HINT})')
    if get_rank() != 0:          # every rank ran the tests (distributed evaluation); rank 0 writes the tables
        if not results:
            raise tool.UserError(nothing)
        return 0
    columns = [n for n in BENCHMARKS if n in infos] + [n for n in infos if n not in BENCHMARKS]
    titles = {n: infos[n]['title'] for n in infos}
    method = method_info(model_cfg, args.name)
    rows = table_rows(results, infos, method, {k: tuple(v) for k, v in speed.items()})
    md = render_markdown(rows, columns, titles, missing)
    with open(osp.join(out_dir, 'table.md'), 'w') as f:
        f.write(md)
    write_csv(osp.join(out_dir, 'table.csv'), rows, columns)
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=checkpoint, data_root=args.data_root, method=method,
                       miou=results, metrics=metrics_all, missing=missing,
                       images_per_s={k: (v[0] / v[1] if v[1] > 0 else None) for k, v in speed.items()}), f, indent=1)
    print('\n' + md)
    print(f'[benchmark] wrote {osp.join(out_dir, "table.md")}, table.csv, results.json')
    if not results:
        raise tool.UserError(nothing)  # the tables above still list the papers' numbers
    return 0


if __name__ == '__main__':
    exit_code = tool.run_tool(main)
    if exit_code == 0:
        from mmseg_code.compat import teardown_distributed
        teardown_distributed()  # after a successful run only: ranks leave together
    raise SystemExit(exit_code)
