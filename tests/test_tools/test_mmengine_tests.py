"""MMEngine v0.10.7's own tests (hooks, infer, runner, fileio, logging) pass the same with and without
``import mmseg_code``, under torch's default ``torch.load`` and under ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
(``tools/misc/mmengine_tests.py``). Slow: about an hour on two busy cores.

MMEngine's tests come from ``$MMENGINE_SRC`` (a checkout or its ``tests/``), else from a shallow clone of v0.10.7
(internet); the test is skipped when neither is available. ``$MMENGINE_SUBSETS`` (e.g. ``"logging infer"``) limits
the subsets."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_no_mmengine_test_fails_only_with_the_plugin_imported(tmp_path):
    src = os.environ.get('MMENGINE_SRC')
    if src is None:
        clone = subprocess.run(['git', 'clone', '--depth', '1', '-b', 'v0.10.7',
                                'https://github.com/open-mmlab/mmengine', str(tmp_path / 'mmengine')],
                               capture_output=True, text=True)
        if clone.returncode != 0:
            pytest.skip('no $MMENGINE_SRC and MMEngine v0.10.7 cannot be cloned here')
        src = str(tmp_path / 'mmengine')
    out = tmp_path / 'report.json'
    cmd = [sys.executable, os.path.join(ROOT, 'tools/misc/mmengine_tests.py'), src, '--out', str(out)]
    if os.environ.get('MMENGINE_SUBSETS'):
        cmd += ['--subsets', *os.environ['MMENGINE_SUBSETS'].split()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=6 * 3600)
    report = json.loads(out.read_text())
    assert set(report['modes']) == {'default', 'no-weights-only'}
    for mode, res in report['modes'].items():
        assert res['without']['passed'] > 0, (mode, proc.stdout[-3000:])
        assert res['pass_without_fail_with'] == [], (mode, res['pass_without_fail_with'])
    assert proc.returncode == 0, proc.stdout[-3000:]
