"""Helpers for the dataset tests: tiny images and hand-built tar shards."""
import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image


def image_bytes(size=(12, 10), mode='RGB', fmt='JPEG', color=(200, 30, 30)) -> bytes:
    img = Image.new(mode, size, color)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: str, members) -> str:
    """members: list of (name, bytes). Written with Python's tarfile (PAX format, like webdataset/img2dataset)."""
    with tarfile.open(path, 'w') as tar:
        for name, data in members:
            add_member(tar, name, data)
    return path


def write_simple_shards(root: str, num_shards: int, per_shard: int, prefix: str = 's') -> str:
    """``num_shards`` shards of ``per_shard`` valid samples, keys ``{prefix}{shard}_{i}``; returns a brace pattern."""
    os.makedirs(root, exist_ok=True)
    jpg = image_bytes()
    for s in range(num_shards):
        members = []
        for i in range(per_shard):
            key = f'{prefix}{s}_{i:03d}'
            members += [(f'{key}.jpg', jpg), (f'{key}.txt', f'a dog and a cat number {i}'.encode())]
        write_tar(os.path.join(root, f'{s:05d}.tar'), members)
    return os.path.join(root, '{%05d..%05d}.tar' % (0, num_shards - 1))


@pytest.fixture
def helpers():
    class H:
        pass
    h = H()
    h.image_bytes = image_bytes
    h.write_tar = write_tar
    h.write_simple_shards = write_simple_shards
    h.rgb = lambda arr: np.asarray(arr)[..., ::-1]
    return h


@pytest.fixture(autouse=True)
def _tagger_cache(tmp_path_factory, monkeypatch):
    """Share one trained builtin tagger across the session (in a temp cache dir, not the user's home)."""
    cache = tmp_path_factory.getbasetemp() / 'mmseg_code_cache'
    monkeypatch.setenv('MMSEG_CODE_CACHE', str(cache))
