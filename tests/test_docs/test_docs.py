"""Docs are tests: every fenced shell and Python block of README.md, docs/*.md and projects/*/README.md runs.

Each block is one test (id ``file:line``) that runs in a fresh temporary directory outside the repository holding
generated data, after the substitutions of ``substitutions.py`` (the one table; its docstring lists every rule).
Shell blocks run with ``bash -euo pipefail -x`` (the first failing command fails the block and ``-x`` shows which),
Python blocks as a script. A block marked ``<!-- docs-test: skip reason="..." -->`` is reported as skipped with its
reason, one marked ``<!-- docs-test: slow -->`` runs only with ``pytest -m slow``; an unmarked block that fails fails
the suite. The session summary counts them (``conftest.py``).
"""
import os
import os.path as osp
import resource
import shutil
import sys
import time

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from docs_workspace import new_workspace, repo_state, run_block  # noqa: E402
from markdown_blocks import ROOT, collect, parse_markdown  # noqa: E402
import substitutions as subs  # noqa: E402

COLLECTION = collect()
BLOCK_TIMEOUT = 540          # default blocks (pytest's own limit is 600 s)
SLOW_TIMEOUT = 1800          # slow blocks: the main job, longer training


def _params():
    params = []
    for block in COLLECTION.blocks:
        if not block.runnable:
            continue
        marks = []
        if block.marker == 'skip':
            marks.append(pytest.mark.skip(reason=f'docs-test: not runnable here: {block.reason}'))
        elif block.marker == 'slow':
            marks += [pytest.mark.slow, pytest.mark.timeout(SLOW_TIMEOUT + 60)]
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


def _shared_venv():
    """The real path of ``.venv`` when it is a link to another checkout's venv (a worktree), else None."""
    venv = osp.join(ROOT, '.venv')
    real = osp.realpath(venv)
    return real if osp.islink(venv) and not real.startswith(osp.realpath(ROOT) + os.sep) else None


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _tail(text: str, n: int = 8000) -> str:
    return text if len(text) <= n else '...\n' + text[-n:]


@pytest.mark.parametrize('block', _params())
def test_block(block, docs_data, tmp_path, request):
    if 'tools/bootstrap.sh' in block.code and _shared_venv():
        pytest.skip(f'tools/bootstrap.sh would install this checkout into {_shared_venv()}, a venv '
                    'shared with another checkout (run it from a checkout with its own .venv)')
    ws = new_workspace(docs_data, str(tmp_path / 'ws'))
    checkpoints = {name: request.getfixturevalue(name) for name in subs.needed_checkpoints(block.kind, block.code)}
    for rel, name in subs.PLACED_CHECKPOINTS.items():
        if name in checkpoints and rel in block.code:
            os.makedirs(osp.dirname(osp.join(ws, rel)), exist_ok=True)
            shutil.copyfile(checkpoints[name], osp.join(ws, rel))
    ctx = subs.Context(python=sys.executable, workspace=ws, checkpoints=checkpoints)
    if block.kind == 'shell':
        code = subs.console_commands(block.code) if block.tag.lower() == 'console' else block.code
        script = osp.join(ws, '.docs_test', 'block.sh')
        body = subs.rewrite_shell(code, ctx)
        cmd = ['bash', '-euo', 'pipefail', '-x', script]
    else:
        script = osp.join(ws, '.docs_test', 'block.py')
        body = subs.rewrite_python(block.code, ctx)
        cmd = [sys.executable, script]
    os.makedirs(osp.dirname(script), exist_ok=True)
    with open(script, 'w') as f:
        f.write(body)
    timeout = SLOW_TIMEOUT if block.marker == 'slow' else BLOCK_TIMEOUT
    before = repo_state()
    t0, cpu0 = time.time(), _children_cpu()
    status, out = run_block(cmd, ws, timeout)
    took, cpu = time.time() - t0, _children_cpu() - cpu0
    request.node.user_properties.append(('block_seconds', (took, cpu)))
    if status is None:
        pytest.fail(f'{block.id}: did not finish in {timeout} s (mark it slow?)\n--- as run:\n{body}\n--- output:\n'
                    + _tail(out), pytrace=False)
    if status != 0:
        pytest.fail(f'{block.id}: exit {status} after {took:.0f} s in {ws}\n--- as run:\n{body}\n'
                    f'--- output:\n{_tail(out)}', pytrace=False)
    after = repo_state()
    if before is not None and after is not None and after - before:
        pytest.fail(f'{block.id}: wrote into the repository (run from {ws}): ' + '; '.join(sorted(after - before)),
                    pytrace=False)


def test_every_block_is_classified():
    """Every fence has a language tag we know and every marker is well formed (one line per problem)."""
    assert COLLECTION.blocks, 'no code block found in the documents'
    assert not COLLECTION.problems, '\n'.join(COLLECTION.problems)


# ---------------------------------------------------------------------------------------------- the harness itself
def test_markers_and_tags_are_checked():
    doc = '\n'.join([
        '<!-- docs-test: skip reason="downloads CC3M" -->', '```bash', 'img2dataset --url_list x', '```',
        '<!-- docs-test: slow -->', '```python', 'print(1)', '```',
        '<!-- docs-test: skp reason="typo" -->', '```bash', 'true', '```',
        '<!-- docs-test: skip -->', '```bash', 'true', '```',
        '```', 'untyped', '```',
        '```text', 'a tree', '```',
        '<!-- docs-test: slow -->', '', '```bash', 'true', '```',
        '  <!-- docs-test: skip reason="4 GPUs" -->', '  ```sh', '  bash tools/dist_train.sh c.py 4', '  ```',
    ])
    c = parse_markdown(doc, 'x.md')
    kinds = [(b.line, b.kind, b.marker, b.reason) for b in c.blocks]
    assert kinds == [(2, 'shell', 'skip', 'downloads CC3M'), (6, 'python', 'slow', ''), (10, 'shell', '', ''),
                     (14, 'shell', '', ''), (17, '', '', ''), (20, 'text', '', ''), (25, 'shell', '', ''),
                     (29, 'shell', 'skip', '4 GPUs')]
    assert c.blocks[-1].code == 'bash tools/dist_train.sh c.py 4\n'
    problems = '\n'.join(c.problems)
    assert "x.md:9: unknown docs-test marker 'skp'" in problems
    assert 'x.md:13: docs-test skip needs a reason' in problems
    assert 'x.md:17: code block without a language tag' in problems
    assert 'x.md:23: docs-test marker not followed by a code fence' in problems
    assert len(c.problems) == 4


def _ctx(tmp_path):
    return subs.Context(python='/venv/python', workspace=str(tmp_path),
                        checkpoints=dict(code_checkpoint='/ck/code.pth', tcl_checkpoint='/ck/tcl.pth',
                                         tseg_checkpoint='/ck/tseg.pth'))


def test_shell_substitutions(tmp_path):
    ctx = _ctx(tmp_path)
    code = ('python tools/test.py configs/code/zeroshot/code_vitb16_voc21.py CHECKPOINT   # + --show-dir vis\n'
            'python tools/test.py configs/tcl/zeroshot/tcl_vitb16_voc21.py CKPT \\\n'
            '    --cfg-options model.test_cfg.pamr=False model.test_cfg.bg_thresh=0.5\n'
            'OMP_NUM_THREADS=1 .venv/bin/python tools/quickstart.py && echo done\n'
            'python tools/demo.py photo.jpg --vocab "cat, dog" --config configs/code/code_vitb16_cc.py --checkpoint CKPT\n'
            'python tools/test.py configs/code/code_tiny.py CHECKPOINT\n'
            'python tools/train.py projects/mgca/configs/mgca_vitb16_cc3m.py --work-dir w\n'
            'python tools/benchmark.py projects/mgca/configs/mgca_vitb16_cc3m.py CKPT --data-root data\n')
    out = subs.rewrite_shell(code, ctx).split('\n')
    tiny = subs.TINY_CLIP_OPTIONS
    assert out[0] == (f'python {ROOT}/tools/test.py configs/code/zeroshot/code_vitb16_voc21.py /ck/code.pth '
                      f'--cfg-options {tiny}   # + --show-dir vis')
    assert out[1] == (f'python {ROOT}/tools/test.py configs/tcl/zeroshot/tcl_vitb16_voc21.py /ck/tcl.pth '
                      f'     --cfg-options {tiny} model.test_cfg.pamr=False model.test_cfg.bg_thresh=0.5')
    assert out[2] == f'OMP_NUM_THREADS=1 /venv/python {ROOT}/tools/quickstart.py && echo done'
    gen = osp.join(str(tmp_path), '.docs_test', 'configs', 'configs/code/code_vitb16_cc.py')
    assert out[3] == (f'python {ROOT}/tools/demo.py photo.jpg --vocab "cat, dog" --config {gen} '
                      '--checkpoint /ck/code.pth')
    assert "model = dict(clip=dict(model_name='mmcode-tiny-vit-p16', pretrained=None))" in open(gen).read()
    assert out[4] == f'python {ROOT}/tools/test.py configs/code/code_tiny.py /ck/code.pth'       # not ViT-B/16
    assert out[5].endswith(f'--work-dir w --cfg-options {tiny}')
    assert f'mgca_vitb16_cc3m.py none --data-root data --cfg-options {tiny}' in out[6]
    with pytest.raises(subs.SubstitutionError, match='no checkpoint rule'):
        subs.rewrite_shell('python nothere/x.py CHECKPOINT', ctx)
    assert subs.needed_checkpoints('shell', code) == ['code_checkpoint', 'tcl_checkpoint']


def test_python_substitutions(tmp_path):
    ctx = _ctx(tmp_path)
    code = ("inf = OVSegInferencer('configs/code/code_vitb16_cc.py', weights='CKPT', vocabulary='cat, dog')\n"
            "t = TSEGInferencer('projects/tseg/configs/tseg_tiny_shapes-refer.py', weights='CHECKPOINT')\n")
    with pytest.raises(subs.SubstitutionError, match='several methods'):
        subs.rewrite_python(code, ctx)
    out = subs.rewrite_python(code.split('\n')[0], ctx)
    gen = osp.join(str(tmp_path), '.docs_test', 'configs', 'configs/code/code_vitb16_cc.py')
    assert out == f"inf = OVSegInferencer({gen!r}, weights='/ck/code.pth', vocabulary='cat, dog')"
    out = subs.rewrite_python(code.split('\n')[1], ctx)
    assert out == (f"t = TSEGInferencer({osp.join(ROOT, 'projects/tseg/configs/tseg_tiny_shapes-refer.py')!r}, "
                   "weights='/ck/tseg.pth')")
    assert subs.needed_checkpoints('python', "x('work_dirs/tseg_tiny/iter_200.pth')") == ['tseg_checkpoint']


def test_block_processes_die_with_the_block(tmp_path):
    """A block that times out is killed with everything it started (a quickstart's trainers must not outlive it)."""
    status, _ = run_block(['bash', '-c', 'sleep 300 & echo $! > child.pid; wait'], str(tmp_path), timeout=3)
    assert status is None
    pid = int((tmp_path / 'child.pid').read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f'the block\'s background process {pid} survived it')


def test_a_write_into_the_repository_is_seen():
    before = repo_state()
    if before is None:
        pytest.skip('not a git checkout: the docs test cannot see writes into the repository here')
    probe = osp.join(ROOT, f'.docs_test_probe_{os.getpid()}')
    open(probe, 'w').close()
    try:
        new = repo_state() - before
    finally:
        os.remove(probe)
    assert any(osp.basename(probe) in line for line in new), new
