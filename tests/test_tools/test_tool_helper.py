"""mmseg_code/utils/tool.py: paths from any directory, image decoding checks, one-line user errors (issue 14)."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_code.utils import tool
from mmseg_code.utils.tool import UserError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _jpeg(path, h=40, w=56):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path, 'JPEG')
    return path


def test_repo_root_and_paths_from_any_directory(tmp_path, monkeypatch):
    assert tool.find_repo_root(osp.join(ROOT, 'tools', 'train.py')) == ROOT
    # projects/tseg holds tools/ and configs/ too: the checkout is the one with the package
    assert tool.find_repo_root(osp.join(ROOT, 'projects', 'tseg', 'demo', 'tseg_demo.py')) == ROOT
    monkeypatch.chdir(tmp_path)
    # a README path (written from the repository root) resolves against the repository from elsewhere
    assert tool.resolve_path('configs/code/code_tiny.py', ROOT, 'config') == osp.join(ROOT, 'configs/code/code_tiny.py')
    # a file of that name in the current directory wins
    (tmp_path / 'configs' / 'code').mkdir(parents=True)
    (tmp_path / 'configs' / 'code' / 'code_tiny.py').write_text('x = 1\n')
    assert tool.resolve_path('configs/code/code_tiny.py', ROOT, 'config') == 'configs/code/code_tiny.py'
    with pytest.raises(UserError) as e:
        tool.resolve_path('configs/nope.py', ROOT, 'config')
    assert str(e.value) == (f'config not found: configs/nope.py (looked in {tmp_path}/configs or {ROOT}/configs)')
    with pytest.raises(UserError, match='is a directory'):
        tool.resolve_path('configs', ROOT, 'config')
    assert tool.resolve_checkpoint('none', ROOT) is None and tool.resolve_checkpoint('NONE', ROOT) is None


def test_work_dir_that_cannot_be_created(tmp_path):
    (tmp_path / 'a_file').write_text('')
    with pytest.raises(UserError) as e:
        tool.ensure_writable_dir(str(tmp_path / 'a_file' / 'run'))
    assert str(e.value) == f'cannot create --work-dir {tmp_path}/a_file/run: Not a directory'
    with pytest.raises(UserError, match='exists and is not a directory'):
        tool.ensure_writable_dir(str(tmp_path / 'a_file'))
    assert tool.ensure_writable_dir(str(tmp_path / 'new' / 'deeper')) and (tmp_path / 'new' / 'deeper').is_dir()


def test_read_image_says_not_found_only_for_missing_files(tmp_path):
    import mmcv
    good = _jpeg(str(tmp_path / 'good.jpg'))
    data = open(good, 'rb').read()
    (tmp_path / 'empty.jpg').write_bytes(b'')
    (tmp_path / 'garbage.jpg').write_bytes(b'this is not an image ' * 20)
    (tmp_path / 'truncated.jpg').write_bytes(data[:len(data) * 2 // 3])
    # the same pixels as mmcv.imread (BGR), which the tools used before
    assert np.array_equal(tool.read_image(good), mmcv.imread(good))
    for name, reason in (('empty.jpg', 'empty file'), ('garbage.jpg', 'not an image file'),
                         ('truncated.jpg', 'image file is truncated')):
        with pytest.raises(UserError) as e:
            tool.read_image(str(tmp_path / name))
        assert str(e.value).startswith(f'cannot decode image: {tmp_path / name} ({reason}'), str(e.value)
    with pytest.raises(UserError) as e:
        tool.read_image(str(tmp_path / 'missing.jpg'))
    assert str(e.value).startswith(f'image not found: {tmp_path / "missing.jpg"}')


def _run(main, argv, capsys):
    rc = tool.run_tool(main, argv)
    err = capsys.readouterr().err
    return rc, err


def test_run_tool_one_line_for_user_errors_traceback_for_bugs(capsys, monkeypatch):
    monkeypatch.delenv(tool.DEBUG_ENV, raising=False)

    def bad_input(argv):
        raise UserError('config not found: x.py')

    rc, err = _run(bad_input, [], capsys)
    assert rc == 2 and err.endswith(': error: config not found: x.py\n') and err.count('\n') == 1
    # --debug (or MMSEG_CODE_DEBUG=1): the exception itself, i.e. its traceback
    with pytest.raises(UserError):
        tool.run_tool(bad_input, ['--debug'])
    monkeypatch.setenv(tool.DEBUG_ENV, '1')
    with pytest.raises(UserError):
        tool.run_tool(bad_input, [])
    monkeypatch.delenv(tool.DEBUG_ENV)

    def bug(argv):
        return 1 // 0

    with pytest.raises(ZeroDivisionError):  # not user input: never reduced to a line
        tool.run_tool(bug, [])

    def bug_value_error(argv):
        raise ValueError('internal shape mismatch')

    with pytest.raises(ValueError):
        tool.run_tool(bug_value_error, [])


def test_plugin_validation_errors_are_one_line(tmp_path, capsys):
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    from mmseg_code.compat import CheckpointKeyError, UnsafeCheckpointError
    from mmseg_code.engine.reliability import ConfigError
    from mmseg_code.models.vocab import Vocabulary
    from mmseg_code.utils import load_config
    for exc in (ConfigError('a'), CheckpointKeyError('b'), UnsafeCheckpointError('c')):
        assert tool.is_user_error(exc)

    def vocabulary(argv):
        Vocabulary(['cat', 'dog', 'cat'])

    rc, err = _run(vocabulary, [], capsys)
    assert rc == 2 and "Duplicated class names in the vocabulary (equal up to case and spaces): 'cat' = 'cat'" in err \
        and err.count('\n') == 1

    def unknown_type(argv):
        MODELS.build(dict(type='CoDee'))

    rc, err = _run(unknown_type, [], capsys)
    assert rc == 2 and 'CoDee is not in the mmseg::model registry' in err and err.count('\n') == 1

    (tmp_path / 'broken.py').write_text('model = dict(type=\n')
    (tmp_path / 'bad_import.py').write_text("custom_imports = dict(imports=['projects.mgca.mgcaa'])\n")

    def syntax_error(argv):
        load_config(str(tmp_path / 'broken.py'))

    rc, err = _run(syntax_error, [], capsys)
    assert rc == 2 and err.count('\n') == 1
    assert err.endswith(f"error: config {tmp_path / 'broken.py'} has a syntax error: '(' was never closed (line 1)\n")

    def misspelt_custom_import(argv):
        load_config(str(tmp_path / 'bad_import.py'))

    rc, err = _run(misspelt_custom_import, [], capsys)
    assert rc == 2 and "custom_imports names 'projects.mgca.mgcaa', which is not importable" in err
