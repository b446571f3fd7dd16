"""Session fixtures of the docs test (the generated files and checkpoints of ``substitutions.py``) and its summary.

The summary at the end of a pytest run that collected the docs test counts every block of the documents: how many
ran (and failed, with wall and CPU seconds), how many are ``slow`` and did not run (``pytest -m slow`` runs them) and
how many are marked not runnable, with each reason.
"""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from docs_workspace import PYTHON, ROOT, build_data, run_checked, train_checkpoint  # noqa: E402
from markdown_blocks import collect  # noqa: E402


@pytest.fixture(scope='session')
def docs_data(tmp_path_factory):
    """The files of rule A (``substitutions.py``), generated once; each block gets a copy."""
    return build_data(str(tmp_path_factory.mktemp('docs_data')))


@pytest.fixture(scope='session')
def code_checkpoint(tmp_path_factory, docs_data):
    return train_checkpoint(str(tmp_path_factory.mktemp('ckpt_code')), docs_data, 'configs/code/code_tiny.py')


@pytest.fixture(scope='session')
def tcl_checkpoint(tmp_path_factory, docs_data):
    return train_checkpoint(str(tmp_path_factory.mktemp('ckpt_tcl')), docs_data, 'configs/tcl/tcl_tiny.py')


@pytest.fixture(scope='session')
def tseg_checkpoint(tmp_path_factory, docs_data):
    # An absolute data root here; the docs' own TSEG block uses a relative one (joined once since 4d10c4c).
    data = str(tmp_path_factory.mktemp('tseg_refer'))
    run_checked([PYTHON, osp.join(ROOT, 'projects/tseg/tools/make_synthetic_refer.py'), '--out', data,
                 '--num-train', '16', '--num-val', '4'], data, 'tseg data')
    return train_checkpoint(str(tmp_path_factory.mktemp('ckpt_tseg')), docs_data,
                            'projects/tseg/configs/tseg_tiny_shapes-refer.py',
                            extra=[f'{loader}.dataset.data_root={data}'
                                   for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')])


# ---------------------------------------------------------------------------------------------- summary
_RESULTS = {}     # block id -> (outcome, seconds with fixtures, (wall, CPU) of its commands or None)


def pytest_runtest_logreport(report):
    if '::test_block[' not in report.nodeid:
        return
    bid = report.nodeid.split('::test_block[', 1)[1][:-1]
    if report.when == 'call' and report.outcome == 'skipped':     # skipped at run time: keep the reason
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason[len('Skipped: '):] if reason.startswith('Skipped: ') else reason
        _RESULTS[bid] = ('skipped', report.duration, reason)
    elif report.when == 'call':
        block = dict(report.user_properties).get('block_seconds')     # (wall, CPU) of the block's own commands
        _RESULTS[bid] = (report.outcome, report.duration, block)
    elif report.when == 'setup' and report.outcome == 'failed':
        _RESULTS[bid] = ('failed', report.duration, None)
    elif report.when == 'setup' and report.outcome == 'skipped' and bid not in _RESULTS:
        _RESULTS[bid] = ('skipped', 0.0, None)


def pytest_terminal_summary(terminalreporter):
    blocks = collect().blocks
    runnable = [b for b in blocks if b.runnable]
    ran = {b.id: _RESULTS[b.id] for b in runnable if b.id in _RESULTS and _RESULTS[b.id][0] != 'skipped'}
    failed = [bid for bid, (outcome, _, _) in ran.items() if outcome == 'failed']
    late = {bid: r[2] for bid, r in _RESULTS.items() if r[0] == 'skipped' and isinstance(r[2], str)}
    slow = [b for b in runnable if b.marker == 'slow' and b.id not in ran and b.id not in late]
    skips = [b for b in runnable if b.marker == 'skip']
    other = [b for b in runnable if b.marker == '' and b.id not in ran and b.id not in late]
    tr = terminalreporter
    tr.write_sep('-', 'docs blocks (tests/test_docs)')
    tr.write_line(f'docs blocks: {len(blocks)} in {len({b.path for b in blocks})} documents, '
                  f'{len(blocks) - len(runnable)} text (not commands); of {len(runnable)} command blocks: '
                  f'{len(ran)} ran ({len(ran) - len(failed)} passed, {len(failed)} failed, '
                  f'{sum(t for _, t, _ in ran.values()):.0f} s with fixtures), '
                  f'{len(slow)} slow not run (pytest -m slow runs them), '
                  f'{len(skips)} marked not runnable'
                  + (f', {len(late)} skipped here' if late else '')
                  + (f', {len(other)} not selected' if other else ''))
    for bid, (outcome, took, block) in ran.items():
        own = f'; its commands {block[0]:.0f} s, {block[1]:.0f} s CPU' if block else ''
        tr.write_line(f'  {outcome:<13} {bid}: {took:.0f} s{own}')
    for bid, reason in late.items():
        tr.write_line(f'  skipped here  {bid}: {reason}')
    for b in skips:
        tr.write_line(f'  not runnable  {b.id}: {b.reason}')
    for b in slow:
        tr.write_line(f'  slow          {b.id}' + (f': {b.reason}' if b.reason else ''))
