"""The docs test's one substitution table: how a block written for a user's machine runs on generated data.

Every runnable block runs in a fresh temporary directory outside the repository (its *workspace*), as a user runs it
from their own directory, with ``python`` on ``PATH`` = the test's (the venv's) interpreter, ``PYTHONPATH`` = the
repository (as a user at the repository root has it: ``mmseg_code`` and ``projects.*`` import), one torch thread and
no GPU. Config paths in shell commands stay as written: the tools resolve them against the repository root.

A. Files every workspace holds (generated once per session; the text of the block is not changed)

=======================================  ===========================================================================
``data/VOCdevkit/VOC2012``               VOC-layout root: 2 images (64×48 JPEG), ``SegmentationClass`` PNGs,
                                         ``ImageSets/Segmentation/val.txt`` (voc21 and voc20 find it)
``data/synthetic_shapes``                ``make_synthetic_shapes.py --num-train 64 --num-val 8``: shards + ``seg/``
``photo.jpg``, ``a.jpg``, ``b.jpg``      generated 96×64 images (a red circle, a green square on grey)
``my_pairs/``                            3 images with same-name ``.txt`` captions
``pairs.jsonl`` + ``images/``            3 ``{"image": ..., "caption": ...}`` lines and their images
=======================================  ===========================================================================

B. Checkpoints placed where a block names them (only when the block's text names them)

=======================================  ===========================================================================
``checkpoints/code_vitb16_mmseg.pth``    the CoDe checkpoint of D (the docs make it with ``code2mmseg.py``)
``checkpoints/tcl_vitb16_mmseg.pth``     the TCL checkpoint of D (the docs make it with ``tcl2mmseg.py``)
``work_dirs/tseg_tiny/iter_200.pth``     the TSEG checkpoint of D (the docs' training command writes it)
=======================================  ===========================================================================

C. Text substitutions (a whole shell word, or a whole Python string literal; nothing else is rewritten)

=======================================  ===========================================================================
shell ``.venv/bin/python`` (program)     the test's interpreter (the repository's venv)
shell script ``tools/…``,                ``<repo>/tools/…`` etc. — only the script argument of ``python``, ``bash``
``projects/*/tools/…``, ``…/demo/…``     or ``torchrun``, and only when that file exists in the repository
shell ``CHECKPOINT``, ``CKPT``           the checkpoint of D for the command's config: CoDe (``configs/code``),
                                         TCL (``configs/tcl``), TSEG (``projects/tseg``); ``none`` for MGCA
shell ``TSEG_CONFIG``                    ``projects/tseg/configs/tseg_tiny_shapes-refer.py``
OpenAI ViT-B/16 config given to a tool   appended to the command's ``--cfg-options`` (a new ``--cfg-options`` at
with ``--cfg-options`` (``train.py``,    the end of the command when it has none): ``model.clip.model_name=
``test.py``, ``benchmark.py``,           mmcode-tiny-vit-p16 model.clip.pretrained=None`` — the tiny random CLIP
``dist_train.sh``, ``dist_test.sh``)     instead of downloading OpenAI's weights
the same config given to ``demo.py`` /   a generated config ``<workspace>/.docs_test/configs/<same path>`` that
``visualize_code.py`` (no               inherits the repository's config and sets the same two keys
``--cfg-options``), or as a Python
string literal
Python ``'configs/…'``, ``'projects/…'``  the absolute repository path (the docs' Python runs from the repository root)
(other existing config files)
Python ``'CHECKPOINT'``, ``'CKPT'``      as shell ``CHECKPOINT`` (by the config named in the block)
=======================================  ===========================================================================

An OpenAI ViT-B/16 config is a repository config whose ``model.clip`` is ``model_name='ViT-B-16',
pretrained='openai'`` (read with mmengine's ``Config.fromfile``).

D. Checkpoints (session fixtures in ``conftest.py``, trained only when a selected block needs them, each by
``tools/train.py`` for 2 iterations in a session directory): CoDe from ``configs/code/code_tiny.py`` and TCL from
``configs/tcl/tcl_tiny.py`` on ``data/synthetic_shapes`` — the ViT-B/16 configs with the tiny-CLIP keys above have
exactly these state-dict keys and shapes (the strict key check of ``tools/test.py`` and the inferencers verifies it on
every load) — and TSEG from ``projects/tseg/configs/tseg_tiny_shapes-refer.py`` on a generated referring benchmark
(16 images, absolute data root).
"""
from __future__ import annotations

import functools
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TINY_CLIP = (('model.clip.model_name', 'mmcode-tiny-vit-p16'), ('model.clip.pretrained', None))
TINY_CLIP_OPTIONS = ' '.join(f'{k}={v}' for k, v in TINY_CLIP)

PLACEHOLDER_CHECKPOINTS = ('CHECKPOINT', 'CKPT')
TSEG_CONFIG = 'projects/tseg/configs/tseg_tiny_shapes-refer.py'

# B: path in the workspace -> fixture name
PLACED_CHECKPOINTS = {
    'checkpoints/code_vitb16_mmseg.pth': 'code_checkpoint',
    'checkpoints/tcl_vitb16_mmseg.pth': 'tcl_checkpoint',
    'work_dirs/tseg_tiny/iter_200.pth': 'tseg_checkpoint',
}

# C: tools that take --cfg-options (the tiny CLIP goes there) and those that do not (generated config)
CFG_OPTIONS_TOOLS = ('tools/train.py', 'tools/test.py', 'tools/benchmark.py', 'tools/dist_train.sh',
                     'tools/dist_test.sh')
CONFIG_FLAG_TOOLS = {'tools/demo.py': '--config', 'projects/tseg/demo/tseg_demo.py': '--config'}
CONFIG_POSITIONAL_TOOLS = ('tools/train.py', 'tools/test.py', 'tools/benchmark.py', 'tools/dist_train.sh',
                           'tools/dist_test.sh', 'tools/visualize_code.py')
PROGRAMS = ('python', 'python3', '.venv/bin/python', 'bash', 'sh', 'torchrun')


class SubstitutionError(ValueError):
    """A block uses a placeholder this table has no rule for (one line, names the block's command)."""


# --------------------------------------------------------------------------------------------- which checkpoint
def checkpoint_fixture(config: Optional[str]) -> Optional[str]:
    """Fixture name of the checkpoint for a config path (None: the literal ``none``)."""
    if config is None:
        return ''
    c = config.replace('\\', '/')
    if c == 'TSEG_CONFIG' or 'projects/tseg/' in c:
        return 'tseg_checkpoint'
    if 'projects/mgca/' in c:
        return None
    if c.startswith('configs/tcl/') or '/configs/tcl/' in c:
        return 'tcl_checkpoint'
    if c.startswith('configs/code/') or '/configs/code/' in c:
        return 'code_checkpoint'
    return ''


@functools.lru_cache(maxsize=None)
def is_openai_vitb16_config(path: str) -> bool:
    """A repository config whose CLIP is OpenAI's ViT-B/16 (what the tiny-CLIP rule replaces)."""
    full = path if osp.isabs(path) else osp.join(ROOT, path)
    if not (full.endswith('.py') and osp.isfile(full)):
        return False
    from mmengine.config import Config
    clip = (Config.fromfile(full).get('model') or {}).get('clip') or {}
    return clip.get('model_name') == 'ViT-B-16' and clip.get('pretrained') == 'openai'


def tiny_config_text(config: str) -> str:
    """A config that is the repository's ``config`` with the tiny CLIP (rule C, generated configs)."""
    lines = [f'_base_ = [{osp.join(ROOT, config)!r}]', 'model = dict(clip=dict(model_name={!r}, pretrained={!r}))'
             .format(*(v for _, v in TINY_CLIP))]
    return '# generated by tests/test_docs (substitutions.py, rule C)\n' + '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------------------------- shell scanning
@dataclass
class Word:
    start: int
    end: int
    text: str           # without quotes

    def raw(self, line: str) -> str:
        return line[self.start:self.end]


def logical_lines(code: str) -> List[str]:
    """Lines of a shell block with backslash-newline continuations joined."""
    out, cur = [], ''
    for line in code.split('\n'):
        if line.endswith('\\') and not line.endswith('\\\\'):
            cur += line[:-1] + ' '
            continue
        out.append(cur + line)
        cur = ''
    if cur:
        out.append(cur)
    return out


def scan(line: str) -> Tuple[List[List[Word]], Optional[int]]:
    """Commands (lists of words with their spans) of one logical line, and where its comment starts."""
    commands: List[List[Word]] = [[]]
    i, n = 0, len(line)
    start, text, quote = None, '', None

    def end_word(at):
        nonlocal start, text
        if start is not None:
            commands[-1].append(Word(start, at, text))
        start, text = None, ''

    while i < n:
        ch = line[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == '\\' and quote == '"' and i + 1 < n:
                i += 1
                text += line[i]
            else:
                text += ch
            i += 1
            continue
        if ch in '\'"':
            quote = ch
            if start is None:
                start = i
            i += 1
            continue
        if ch.isspace():
            end_word(i)
            i += 1
            continue
        if ch == '#' and start is None:
            end_word(i)
            return [c for c in commands if c], i
        if ch in ';&|()':
            end_word(i)
            commands.append([])
            i += 2 if line[i:i + 2] in ('&&', '||') else 1
            continue
        if ch == '\\' and i + 1 < n:
            if start is None:
                start = i
            text += line[i + 1]
            i += 2
            continue
        if start is None:
            start = i
        text += ch
        i += 1
    if quote:
        raise SubstitutionError(f'unterminated quote in: {line.strip()}')
    end_word(n)
    return [c for c in commands if c], None


ASSIGNMENT = re.compile(r'^[A-Za-z_]\w*=')


def _script(words: List[Word]) -> Tuple[Optional[int], Optional[int]]:
    """(index of the program, index of its script argument) of one command."""
    k = 0
    while k < len(words) and ASSIGNMENT.match(words[k].text):
        k += 1
    if k >= len(words) or words[k].text not in PROGRAMS:
        return (k if k < len(words) else None), None
    j = k + 1
    while j < len(words) and words[j].text.startswith('-'):
        if words[j].text == '-m':          # python -m module: no script
            return k, None
        j += 1
    return k, (j if j < len(words) else None)


def _config_index(words: List[Word], script: str, s: int) -> Optional[int]:
    flag = CONFIG_FLAG_TOOLS.get(script)
    if flag:
        for j in range(s + 1, len(words) - 1):
            if words[j].text == flag:
                return j + 1
        return None
    if script in CONFIG_POSITIONAL_TOOLS:
        for j in range(s + 1, len(words)):
            if not words[j].text.startswith('-'):
                return j
    return None


@dataclass
class Context:
    """What the rewrite needs: the test's interpreter, the workspace and the checkpoint paths it holds."""
    python: str
    workspace: str
    checkpoints: Dict[str, str]         # fixture name -> path (only those the block needs)

    def checkpoint(self, config: Optional[str], where: str) -> str:
        fixture = checkpoint_fixture(config)
        if fixture is None:
            return 'none'
        if not fixture:
            raise SubstitutionError(f'no checkpoint rule for the config {config!r} in: {where}')
        return self.checkpoints[fixture]

    def tiny_config(self, config: str) -> str:
        path = osp.join(self.workspace, '.docs_test', 'configs', config)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(tiny_config_text(config))
        return path


def shell_command_plan(words: List[Word]) -> dict:
    """What rule C finds in one command: program, script (repository-relative) and config."""
    p, s = _script(words)
    plan = dict(program=p, script=None, config=None, config_index=None)
    if s is not None:
        script = words[s].text
        plan['script_index'] = s
        plan['script'] = script
        c = _config_index(words, script, s)
        if c is not None:
            plan['config_index'] = c
            plan['config'] = words[c].text
    return plan


def rewrite_shell_line(line: str, ctx: Optional[Context]) -> str:
    """Rule C applied to one logical shell line (``ctx=None``: only report what would be needed)."""
    commands, comment = scan(line)
    edits: List[Tuple[int, int, str]] = []
    for words in commands:
        plan = shell_command_plan(words)
        p, script, config = plan['program'], plan['script'], plan['config']
        where = ' '.join(w.text for w in words)
        if p is not None and words[p].text == '.venv/bin/python':
            edits.append((words[p].start, words[p].end, ctx.python))
        if script and osp.isfile(osp.join(ROOT, script)) and not osp.isabs(script):
            edits.append((words[plan['script_index']].start, words[plan['script_index']].end,
                          osp.join(ROOT, script)))
        if config == 'TSEG_CONFIG':
            config = TSEG_CONFIG
            c = words[plan['config_index']]
            edits.append((c.start, c.end, TSEG_CONFIG))
        for w in words:
            if w.text in PLACEHOLDER_CHECKPOINTS and w.raw(line) == w.text:
                edits.append((w.start, w.end, ctx.checkpoint(config, where)))
        if config and is_openai_vitb16_config(config):
            if script in CFG_OPTIONS_TOOLS:
                opt = next((w for w in words if w.text == '--cfg-options'), None)
                if opt is not None:
                    edits.append((opt.end, opt.end, ' ' + TINY_CLIP_OPTIONS))
                else:
                    edits.append((words[-1].end, words[-1].end, ' --cfg-options ' + TINY_CLIP_OPTIONS))
            else:
                c = words[plan['config_index']]
                edits.append((c.start, c.end, ctx.tiny_config(config)))
    out = line
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + new + out[end:]
    return out


def rewrite_shell(code: str, ctx: Context) -> str:
    """A shell block with rule C applied, one logical line per line (``bash -x`` shows each command as run)."""
    out = []
    for line in logical_lines(code):
        if '<<' in line:
            raise SubstitutionError(f'here-documents are not supported by the docs test: {line.strip()}')
        out.append(rewrite_shell_line(line, ctx))
    return '\n'.join(out) + '\n'


def console_commands(code: str) -> str:
    """A ``console`` block: only its ``$ `` lines are commands."""
    return '\n'.join(line[2:] for line in code.split('\n') if line.startswith('$ ')) + '\n'


# --------------------------------------------------------------------------------------------- python
PY_STRING = re.compile(r"""(?P<q>['"])(?P<s>[^'"\n]*)(?P=q)""")


def python_configs(code: str) -> List[str]:
    return [m.group('s') for m in PY_STRING.finditer(code)
            if m.group('s').endswith('.py') and m.group('s').startswith(('configs/', 'projects/'))]


def rewrite_python(code: str, ctx: Context) -> str:
    configs = python_configs(code)
    kinds = {checkpoint_fixture(c) for c in configs}
    config = configs[0] if configs else None

    def repl(m):
        s = m.group('s')
        if s in PLACEHOLDER_CHECKPOINTS:
            if len(kinds) > 1:
                raise SubstitutionError(f'{s!r}: the block names configs of several methods: {configs}')
            return repr(ctx.checkpoint(config, f'Python block naming {configs}'))
        if s in configs and osp.isfile(osp.join(ROOT, s)):
            return repr(ctx.tiny_config(s) if is_openai_vitb16_config(s) else osp.join(ROOT, s))
        return m.group(0)

    return PY_STRING.sub(repl, code)


# --------------------------------------------------------------------------------------------- needs
def needed_checkpoints(kind: str, code: str) -> List[str]:
    """Fixture names of the checkpoints a block needs (rule B paths it names, rule C placeholders)."""
    need = {fx for path, fx in PLACED_CHECKPOINTS.items() if path in code}
    if kind == 'python':
        configs = python_configs(code)
        if any(f"'{p}'" in code or f'"{p}"' in code for p in PLACEHOLDER_CHECKPOINTS):
            need.update(checkpoint_fixture(c) for c in configs)
    elif kind == 'shell':
        for line in logical_lines(code):
            commands, _ = scan(line)
            for words in commands:
                if any(w.text in PLACEHOLDER_CHECKPOINTS for w in words):
                    cfg = shell_command_plan(words)['config']
                    need.add(checkpoint_fixture(TSEG_CONFIG if cfg == 'TSEG_CONFIG' else cfg))
    return sorted(n for n in need if n)
