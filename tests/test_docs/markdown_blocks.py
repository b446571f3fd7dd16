"""Collect the fenced code blocks of the documentation and classify each one.

Documents: ``README.md``, ``docs/*.md``, ``projects/*/README.md``.

Language tag of the opening fence:

=====================================  ===========================================================
``bash``, ``sh``, ``shell``            shell commands (run with ``bash -euo pipefail``)
``console``                            shell; only lines starting with ``$ `` are commands
``python``, ``py``                     a Python program (run as a script)
``text``                               not a command (directory trees, log lines, synopses)
anything else, or no tag               a problem: every block must say what it is
=====================================  ===========================================================

Marker: an HTML comment on the line right before the opening fence (same indentation as the fence),

    <!-- docs-test: skip reason="downloads CC3M" -->     not runnable here; counted with its reason
    <!-- docs-test: slow -->                            runs only with ``pytest -m slow``
    <!-- docs-test: slow reason="6 min of training" --> (a reason is optional for slow)

A marker word other than ``skip``/``slow``, a ``skip`` without a reason, an attribute other than ``reason``, a marker
not followed by a fence, or a marker on a ``text`` block is a problem. Problems fail
``test_docs.py::test_every_block_is_classified`` with one line each.
"""
from __future__ import annotations

import glob
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SHELL_TAGS = ('bash', 'sh', 'shell', 'console')
PYTHON_TAGS = ('python', 'py')
TEXT_TAGS = ('text',)
MARKER_WORDS = ('skip', 'slow')

FENCE = re.compile(r'^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$')
MARKER = re.compile(r'^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$')
MARKER_START = re.compile(r'^\s*<!--\s*docs-test\b')
ATTR = re.compile(r'(?P<key>[A-Za-z_][\w-]*)="(?P<value>[^"]*)"')


def doc_files(root: str = ROOT) -> List[str]:
    """The documents, relative to ``root``, in a fixed order."""
    files = ['README.md']
    files += sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, 'docs', '*.md')))
    files += sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, 'projects', '*', 'README.md')))
    return [f for f in files if osp.isfile(osp.join(root, f))]


@dataclass
class Block:
    path: str            # document, relative to the repository root
    line: int            # 1-based line of the opening fence
    tag: str             # language tag as written ('' when none)
    code: str            # content, with the fence's indentation removed
    kind: str = ''       # 'shell' | 'python' | 'text' | '' (unclassified)
    marker: str = ''     # '' | 'skip' | 'slow'
    reason: str = ''

    @property
    def id(self) -> str:
        return f'{self.path}:{self.line}'

    @property
    def runnable(self) -> bool:
        return self.kind in ('shell', 'python')


@dataclass
class Collection:
    blocks: List[Block] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


def _parse_marker(text: str, where: str, problems: List[str]) -> Optional[tuple]:
    m = MARKER.match(text)
    if not m:
        problems.append(f'{where}: malformed docs-test marker {text.strip()!r} '
                        '(expected <!-- docs-test: skip reason="..." --> or <!-- docs-test: slow -->)')
        return None
    body = m.group('body').strip()
    attrs = {a.group('key'): a.group('value') for a in ATTR.finditer(body)}
    words = ATTR.sub('', body).split()
    if len(words) != 1 or words[0] not in MARKER_WORDS:
        problems.append(f'{where}: unknown docs-test marker {" ".join(words) or "(empty)"!r}: '
                        f'use one of {", ".join(MARKER_WORDS)}')
        return None
    unknown = sorted(set(attrs) - {'reason'})
    if unknown:
        problems.append(f'{where}: unknown docs-test marker attribute {", ".join(unknown)}: only reason="..."')
        return None
    word, reason = words[0], attrs.get('reason', '').strip()
    if word == 'skip' and not reason:
        problems.append(f'{where}: docs-test skip needs a reason="..." (it is printed in the summary)')
        return None
    return word, reason


def parse_markdown(text: str, path: str) -> Collection:
    """Blocks and problems of one Markdown document."""
    out = Collection()
    lines = text.split('\n')
    i = 0
    pending = None          # (line number, marker word, reason) of a marker seen on the previous line
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if MARKER_START.match(line):
            if pending is not None:
                out.problems.append(f'{path}:{pending[0]}: docs-test marker not followed by a code fence')
            parsed = _parse_marker(line, f'{path}:{i + 1}', out.problems)
            pending = (i + 1, *parsed) if parsed else None
            i += 1
            continue
        if not fence:
            if pending is not None:
                out.problems.append(f'{path}:{pending[0]}: docs-test marker not followed by a code fence '
                                    '(it must be on the line right before the opening fence)')
                pending = None
            i += 1
            continue
        indent, mark = len(fence.group('indent')), fence.group('fence')
        tag = fence.group('info').strip().split(' ')[0] if fence.group('info').strip() else ''
        start = i
        body = []
        i += 1
        closing = re.compile(r'^ *' + re.escape(mark[0]) + '{' + str(len(mark)) + r',}\s*$')
        while i < len(lines) and not closing.match(lines[i]):
            raw = lines[i]
            strip = min(indent, len(raw) - len(raw.lstrip(' ')))
            body.append(raw[strip:])
            i += 1
        if i >= len(lines):
            out.problems.append(f'{path}:{start + 1}: code fence is never closed')
        i += 1                                      # past the closing fence
        block = Block(path=path, line=start + 1, tag=tag, code='\n'.join(body) + '\n')
        low = tag.lower()
        if low in SHELL_TAGS:
            block.kind = 'shell'
        elif low in PYTHON_TAGS:
            block.kind = 'python'
        elif low in TEXT_TAGS:
            block.kind = 'text'
        elif not tag:
            out.problems.append(f'{block.id}: code block without a language tag: tag it bash/python (commands) '
                                'or text (anything else)')
        else:
            out.problems.append(f'{block.id}: unknown language tag {tag!r}: use one of '
                                f'{", ".join(SHELL_TAGS + PYTHON_TAGS + TEXT_TAGS)}')
        if pending is not None:
            _, block.marker, block.reason = pending
            if block.kind == 'text':
                out.problems.append(f'{block.id}: docs-test marker on a text block (text blocks never run)')
            pending = None
        out.blocks.append(block)
    if pending is not None:
        out.problems.append(f'{path}:{pending[0]}: docs-test marker not followed by a code fence')
    return out


def collect(root: str = ROOT) -> Collection:
    """Every block of every document under ``root``."""
    out = Collection()
    for path in doc_files(root):
        with open(osp.join(root, path), encoding='utf-8') as f:
            one = parse_markdown(f.read(), path)
        out.blocks += one.blocks
        out.problems += one.problems
    return out
