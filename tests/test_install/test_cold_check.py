"""The set-up's inputs hash, and the cold check that rebuilds from cold only when that hash changes.

The cold build itself (fresh clone, empty HOME, mmcv compiled: ~20 min) is not run here; ``tools/cold_check.sh``
runs it in CI. These tests use ``--dry-run``, which decides without building.
"""
import hashlib
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).parents[2]
INPUT_NAMES = ('tools/bootstrap.sh', 'setup.py', 'pyproject.toml')


def expected_inputs_hash(root: pathlib.Path) -> str:
    """sha256 of `sha256sum`-style lines (``<hex>  <path>``) of the inputs, in byte order of their paths."""
    paths = [p for p in INPUT_NAMES if (root / p).is_file()]
    paths += [f'requirements/{p.name}' for p in (root / 'requirements').glob('*.txt')]
    lines = ''.join(f'{hashlib.sha256((root / p).read_bytes()).hexdigest()}  {p}\n'
                    for p in sorted(paths, key=str.encode))
    return hashlib.sha256(lines.encode()).hexdigest()


def inputs_hash(root: pathlib.Path) -> str:
    out = subprocess.run(['bash', 'tools/bootstrap.sh', '--inputs-hash'], cwd=root, capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip()


def dry_run(root: pathlib.Path) -> str:
    out = subprocess.run(['bash', 'tools/cold_check.sh', '--dry-run'], cwd=root, capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout


@pytest.fixture
def tree(tmp_path):
    """The files the set-up reads, copied, with a record of their current hash."""
    dst = tmp_path / 'repo'
    for name in ('tools/bootstrap.sh', 'tools/cold_check.sh', 'setup.py', 'pyproject.toml'):
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / 'requirements', dst / 'requirements')
    (dst / '.ci').mkdir()
    (dst / '.ci' / 'cold_setup.sha256').write_text(f'# recorded by the test\n{expected_inputs_hash(dst)}\n')
    return dst


def test_inputs_hash_covers_bootstrap_requirements_and_packaging_files():
    assert inputs_hash(ROOT) == expected_inputs_hash(ROOT)


def test_dry_run_is_quiet_while_inputs_match_the_record(tree):
    assert 'nothing to do' in dry_run(tree)


@pytest.mark.parametrize('change', ['bootstrap', 'requirement', 'new_requirement_file', 'setup'])
def test_any_change_to_the_inputs_makes_a_cold_build_due(tree, change):
    before = inputs_hash(tree)
    if change == 'bootstrap':
        with open(tree / 'tools' / 'bootstrap.sh', 'a') as f:
            f.write('# a comment is a change too\n')
    elif change == 'requirement':
        path = tree / 'requirements' / 'mmcv_build.txt'
        path.write_text(path.read_text().replace('ninja==1.13.2', 'ninja==1.13.0'))
    elif change == 'new_requirement_file':
        (tree / 'requirements' / 'docs.txt').write_text('sphinx==8.1.3\n')
    else:
        with open(tree / 'setup.py', 'a') as f:
            f.write('\n')
    after = inputs_hash(tree)
    assert after != before and after == expected_inputs_hash(tree)
    out = dry_run(tree)
    assert 'a cold build is due' in out and after in out and before in out


def test_a_missing_record_makes_a_cold_build_due(tree):
    (tree / '.ci' / 'cold_setup.sha256').unlink()
    assert 'recorded none' in dry_run(tree)


def test_the_committed_record_holds_one_hash():
    text = (ROOT / '.ci' / 'cold_setup.sha256').read_text()
    hashes = [line for line in text.splitlines() if line and not line.startswith('#')]
    assert len(hashes) == 1 and re.fullmatch(r'[0-9a-f]{64}', hashes[0])


def test_mmcv_build_tools_are_pinned_to_exact_files():
    """Every build tool of the mmcv compile is ``name==version`` with its sha256 (pip --require-hashes)."""
    for name, expected in (('mmcv_build.txt', {'setuptools', 'wheel', 'ninja'}), ('mmcv_source.txt', {'mmcv'})):
        text = (ROOT / 'requirements' / name).read_text()
        reqs = [r.strip() for r in re.sub(r'\\\n', ' ', re.sub(r'(?m)^\s*#.*$', '', text)).splitlines() if r.strip()]
        names = set()
        for req in reqs:
            m = re.fullmatch(r'([A-Za-z0-9_.-]+)==([0-9][0-9.]*)((?:\s+--hash=sha256:[0-9a-f]{64})+)', req)
            assert m, f'{name}: not an exact, hashed pin: {req!r}'
            names.add(m.group(1))
        assert names == expected
