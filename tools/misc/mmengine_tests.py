"""Run MMEngine's own tests with and without ``import mmseg_code``: the plugin must not break MMEngine.

    python tools/misc/mmengine_tests.py [MMENGINE] [--subsets hooks infer runner fileio logging]
        [--modes default no-weights-only] [--out report.json] [--timeout 3600]

``MMENGINE``: a checkout of MMEngine (its ``tests/`` is used) or its ``tests/`` directory, of the version installed
here (0.10.7: ``git clone --depth 1 -b v0.10.7 https://github.com/open-mmlab/mmengine``, or ``git archive v0.10.7
tests`` from a mirror). Without it the script makes that shallow clone in a temporary directory (needs internet).

For each mode — ``default`` (torch's own ``torch.load`` default, ``weights_only=True`` since torch 2.6) and
``no-weights-only`` (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, the default MMEngine was written for) — each subset
(``tests/test_<subset>``) runs twice in fresh pytest processes: plain, and with a pytest plugin that imports
``mmseg_code`` before any test. The report lists, per mode, the counts of each run and the tests that pass without
the import and fail with it (must be none; the exit status is 1 otherwise). Some MMEngine test modules need
``parameterized`` (``pip install parameterized``); a module that cannot be collected counts as an error in both
runs. The tests run from a scratch directory holding only a link to ``tests/``, so the installed ``mmengine`` is the
one tested, not a checkout's sources.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SUBSETS = ('hooks', 'infer', 'runner', 'fileio', 'logging')
MODES = {'default': {}, 'no-weights-only': {'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'}}
PLUGIN_MODULE = '_mmseg_code_import_plugin'
CLONE = ['git', 'clone', '--depth', '1', '-b', 'v0.10.7', 'https://github.com/open-mmlab/mmengine']


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('mmengine', nargs='?', help='MMEngine checkout or its tests/ directory (default: shallow clone)')
    p.add_argument('--subsets', nargs='+', default=list(SUBSETS), help=f'tests/test_<subset> (default: {SUBSETS})')
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=list(MODES))
    p.add_argument('--out', help='write the report (JSON) here')
    p.add_argument('--timeout', type=float, default=3600, help='seconds per pytest run')
    p.add_argument('--pytest-args', nargs=argparse.REMAINDER, default=[],
                   help='passed to pytest (e.g. -k checkpoint); must come last')
    return p.parse_args(argv)


def find_tests(path: str | None, scratch: str) -> str:
    """The ``tests`` directory of MMEngine: given, inside a given checkout, or in a fresh shallow clone."""
    if path is None:
        dest = osp.join(scratch, 'mmengine')
        print('[mmengine_tests] no MMEngine given: ' + ' '.join(CLONE + [dest]), flush=True)
        proc = subprocess.run(CLONE + [dest], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f'mmengine_tests: error: cannot clone MMEngine v0.10.7 ({proc.stderr.strip()[-200:]}); '
                             'give the path of a checkout or of its tests/ directory')
        path = dest
    path = osp.abspath(osp.expanduser(path))
    for cand in (osp.join(path, 'tests'), path):
        if osp.isdir(osp.join(cand, 'test_runner')):
            return cand
    raise SystemExit(f'mmengine_tests: error: {path} holds no MMEngine tests (no tests/test_runner); give a checkout '
                     'of MMEngine v0.10.7 or its tests/ directory')


def write_plugin(scratch: str) -> str:
    """A directory with the pytest plugin that imports ``mmseg_code`` (loaded with ``-p``, before collection)."""
    d = osp.join(scratch, 'plugin')
    os.makedirs(d, exist_ok=True)
    with open(osp.join(d, PLUGIN_MODULE + '.py'), 'w') as f:
        f.write('"""pytest plugin: import mmseg_code before any test is collected."""\nimport mmseg_code  # noqa\n')
    return d


def outcomes(junit: str) -> dict:
    """``{test id: 'passed' | 'failed' | 'error' | 'skipped'}`` from a junit XML report."""
    result = {}
    if not osp.isfile(junit):
        return result
    for case in ET.parse(junit).getroot().iter('testcase'):
        tid = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        result[tid] = ('failed' if 'failure' in kinds else 'error' if 'error' in kinds else
                       'skipped' if 'skipped' in kinds else 'passed')
    return result


def run_pytest(tests: str, subset: str, env_extra: dict, with_plugin: bool, plugin_dir: str, scratch: str,
               timeout: float, pytest_args: list) -> tuple[dict, float, int]:
    work = tempfile.mkdtemp(prefix=f'{subset}-', dir=scratch)
    os.symlink(tests, osp.join(work, 'tests'))
    junit = osp.join(work, 'junit.xml')
    env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    env.update(env_extra)
    path = [ROOT] + ([plugin_dir] if with_plugin else [])
    env['PYTHONPATH'] = os.pathsep.join(path + [p for p in [os.environ.get('PYTHONPATH')] if p])
    # --tb=native: pytest's own traceback formatting re-parses sources with ast, which on CPython 3.11.7 can end the
    # whole session with "SystemError: AST constructor recursion depth mismatch" (seen in tests/test_fileio)
    cmd = [sys.executable, '-m', 'pytest', '-q', '--tb=native', '-p', 'no:cacheprovider', f'--junitxml={junit}',
           f'tests/test_{subset}'] + (['-p', PLUGIN_MODULE] if with_plugin else []) + list(pytest_args)
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        rc = proc.returncode
        with open(osp.join(work, 'pytest.log'), 'w') as f:
            f.write(proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        rc = -1
    return outcomes(junit), time.time() - t0, rc


def counts(res: dict) -> dict:
    c = {k: 0 for k in ('passed', 'failed', 'error', 'skipped')}
    for v in res.values():
        c[v] += 1
    return c


def main(argv=None) -> int:
    args = parse_args(argv)
    unknown = [s for s in args.subsets if s not in SUBSETS]
    scratch = tempfile.mkdtemp(prefix='mmengine_tests-')
    tests = find_tests(args.mmengine, scratch)
    missing = [s for s in args.subsets if not osp.isdir(osp.join(tests, f'test_{s}'))]
    if missing:
        raise SystemExit(f'mmengine_tests: error: no tests/test_{missing[0]} in {tests}')
    if unknown:
        print(f'[mmengine_tests] note: {unknown} are not among the subsets of issue 15 ({SUBSETS})', flush=True)
    plugin_dir = write_plugin(scratch)
    report, regressions = dict(tests=tests, modes={}), 0
    for mode in args.modes:
        without, with_, timing = {}, {}, {}
        for subset in args.subsets:
            for flag, into in ((False, without), (True, with_)):
                res, secs, rc = run_pytest(tests, subset, MODES[mode], flag, plugin_dir, scratch, args.timeout,
                                           args.pytest_args)
                into.update(res)
                timing[f'{subset}/{"with" if flag else "without"}'] = round(secs, 1)
                print(f'[mmengine_tests] {mode:>15s} {subset:<8s} {"with" if flag else "without":<7s} import: '
                      f'{counts(res)} ({secs:.0f} s, pytest exit {rc})', flush=True)
        broken = sorted(t for t, o in without.items() if o == 'passed' and with_.get(t) in ('failed', 'error'))
        regressions += len(broken)
        report['modes'][mode] = dict(without=counts(without), with_import=counts(with_), seconds=timing,
                                     pass_without_fail_with=broken)
        print(f'[mmengine_tests] {mode}: without import {counts(without)}; with import {counts(with_)}; '
              f'pass without and fail with: {len(broken)}', flush=True)
        for t in broken:
            print(f'    {t}', flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    print(f'[mmengine_tests] tests that pass without and fail with import mmseg_code: {regressions} '
          f'(logs under {scratch})', flush=True)
    return 1 if regressions else 0


if __name__ == '__main__':
    sys.exit(main())
