"""A small, fault-tolerant reader for webdataset/img2dataset tar shards.

Python's ``tarfile`` in stream mode silently stops at a corrupt header in the middle of an archive, losing the rest of
the shard without a trace. This reader parses the (ustar / GNU long-name / pax) header blocks itself, so it can

* count a corrupt header and **resynchronise** on the next valid header instead of dropping the rest of the shard,
* count a shard that ends in the middle of a member (``truncated_tar``),
* group members into webdataset samples: ``dir/key.ext`` -> sample ``dir/key`` with field ``ext`` (everything after the
  first dot of the base name, lower-cased), consecutive members with the same key forming one sample.

Only regular files are returned; directories, links and pax/GNU bookkeeping entries are consumed silently because they
are not data.
"""
from typing import BinaryIO, Callable, Dict, Iterator, Optional, Tuple

from .skip import CORRUPT_TAR_HEADER, DUPLICATE_MEMBER, TRUNCATED_TAR

BLOCK = 512
SkipFn = Callable[[str, str], None]


def _parse_number(field: bytes) -> int:
    """Parse a tar numeric field: octal ASCII, or GNU base-256 when the high bit of the first byte is set."""
    if field and field[0] & 0x80:
        value = field[0] & 0x3F
        for b in field[1:]:
            value = (value << 8) | b
        return value
    text = field.replace(b'\0', b' ').strip()
    return int(text, 8) if text else 0


def header_is_valid(block: bytes) -> bool:
    """True when ``block`` (512 bytes) has a correct header checksum and a ustar/GNU magic."""
    if len(block) != BLOCK or block[257:262] != b'ustar':
        return False
    try:
        stored = _parse_number(block[148:156])
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return stored == unsigned


def _read_exact(f: BinaryIO, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b''.join(chunks)


def _parse_pax(data: bytes) -> Dict[str, str]:
    """Parse pax extended-header records ``"<len> key=value\\n"``."""
    out: Dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b' ', pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = data[space + 1:pos + length - 1]  # drop the trailing newline
        key, _, value = record.partition(b'=')
        out[key.decode('utf-8', 'replace')] = value.decode('utf-8', 'surrogateescape')
        pos += length
    return out


def iter_tar_members(f: BinaryIO, on_skip: SkipFn) -> Iterator[Tuple[str, bytes]]:
    """Yield ``(member_name, data)`` for each regular file of the tar stream ``f``.

    Corrupt headers are reported with ``on_skip('corrupt_tar_header', detail)`` followed by a block-wise search for the
    next valid header; a stream ending inside a member is reported once with ``on_skip('truncated_tar', detail)``.
    """
    long_name: Optional[str] = None
    pax: Dict[str, str] = {}
    offset = 0
    while True:
        header = _read_exact(f, BLOCK)
        if not header:
            return  # archive without end-of-archive blocks; accepted (webdataset does the same)
        if len(header) < BLOCK:
            on_skip(TRUNCATED_TAR, f'header cut at byte {offset}')
            return
        if header == b'\0' * BLOCK:
            return  # end-of-archive marker
        if not header_is_valid(header):
            bad_at = offset
            while True:  # resynchronise on the next valid header block
                offset += BLOCK
                header = _read_exact(f, BLOCK)
                if len(header) < BLOCK or header_is_valid(header):
                    break
            on_skip(CORRUPT_TAR_HEADER, f'bad header at byte {bad_at}')
            if len(header) < BLOCK:
                return
            long_name, pax = None, {}
        offset += BLOCK
        size = _parse_number(header[124:136])
        typeflag = header[156:157]
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        data = _read_exact(f, size)
        if len(data) < size:
            on_skip(TRUNCATED_TAR, f'member data cut at byte {offset + len(data)}')
            return
        _read_exact(f, padded - size)  # a missing final padding is harmless: the data is complete
        offset += padded
        if typeflag == b'L':  # GNU long name for the next member
            long_name = data.rstrip(b'\0').decode('utf-8', 'surrogateescape')
            continue
        if typeflag == b'x':  # pax header for the next member
            pax = _parse_pax(data)
            continue
        if typeflag not in (b'0', b'\0', b'7'):
            long_name, pax = None, {}
            continue  # directories, links, global pax headers: not data
        if 'path' in pax:
            name = pax['path']
        elif long_name is not None:
            name = long_name
        else:
            base = header[0:100].split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')
            prefix = header[345:500].split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')
            name = f'{prefix}/{base}' if prefix else base
        long_name, pax = None, {}
        yield name, data


def split_key(name: str) -> Optional[Tuple[str, str]]:
    """``'dir/000123.jpg'`` -> ``('dir/000123', 'jpg')``; ``None`` for names without an extension.

    As in webdataset, the extension is everything after the first dot of the base name (``'a.seg.png'`` -> ``seg.png``).
    """
    slash = name.rfind('/')
    dot = name.find('.', slash + 1)
    if dot <= slash + 1:  # no dot, or a hidden file such as '.DS_Store'
        return None
    return name[:dot], name[dot + 1:].lower()


def iter_tar_samples(f: BinaryIO, on_skip: SkipFn) -> Iterator[Dict[str, bytes]]:
    """Group consecutive tar members into samples ``{'__key__': key, ext: bytes, ...}``.

    A member repeating an extension already present in the current sample is dropped and reported as
    ``duplicate_member`` (the first one wins).
    """
    current: Dict = {}
    for name, data in iter_tar_members(f, on_skip):
        parts = split_key(name)
        if parts is None:
            continue
        key, ext = parts
        if current and current['__key__'] != key:
            yield current
            current = {}
        if not current:
            current = {'__key__': key}
        if ext in current:
            on_skip(DUPLICATE_MEMBER, name)
            continue
        current[ext] = data
    if current:
        yield current
