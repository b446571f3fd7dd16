"""Bad data never stops the stream and every skip is counted by reason (expected counts derived by hand from how
the shards are built below)."""
import io
import os
import tarfile

import numpy as np
import open_clip
import pytest
from mmengine.logging import MessageHub, MMLogger
from PIL import Image
from torch.utils.data import DataLoader

from mmseg_code.datasets import ImageTextDataset
from mmseg_code.datasets.transforms.decode import DecodeImageBytes
from mmseg_code.engine.hooks.skip_counter_hook import SkipCounterHook

PIPELINE = [
    dict(type='DecodeImageBytes'),
    dict(type='RandomResizedCrop', size=16, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption', max_chars=1000),
    dict(type='SelectNouns', num_nouns=2, min_nouns=2, tagger='builtin'),
    dict(type='TokenizeCaptionWithNouns'),
    dict(type='PackImageTextInputs'),
]
GOOD_CAPTION = b'a dog and a cat on a sofa'
LONG_CAPTION = b'a dog and a cat on a sofa ' + b'in a room with a lamp ' * 300  # 6926 characters


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format='JPEG')
    return buf.getvalue()


def good_images():
    """Good images in every colour mode the decoder must handle."""
    pal = Image.new('P', (12, 12), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info['transparency'] = 0
    return {
        'rgb': ('jpg', jpeg(Image.new('RGB', (20, 14), (10, 200, 30)))),
        'gray': ('jpg', jpeg(Image.new('L', (12, 12), 90))),
        'cmyk': ('jpg', jpeg(Image.new('CMYK', (12, 12), (0, 255, 255, 0)))),
        'palette': ('png', png(pal)),
        'rgba': ('png', png(Image.new('RGBA', (12, 12), (0, 0, 255, 128)))),
    }


def hostile_members():
    """(members, expected skip counts, number of good samples). A corrupted header is marked with name '!corrupt'."""
    m = []
    for i, (name, (ext, data)) in enumerate(good_images().items()):
        m += [(f'good_{name}.{ext}', data), (f'good_{name}.txt', GOOD_CAPTION), (f'good_{name}.json', b'{"a": 1}')]
    rgb = good_images()['rgb'][1]
    m += [('bad_bytes.jpg', b'\xff\xd8 this is not a jpeg'), ('bad_bytes.txt', GOOD_CAPTION)]  # undecodable_image
    m += [('bad_truncjpg.jpg', rgb[:len(rgb) // 2]), ('bad_truncjpg.txt', GOOD_CAPTION)]  # undecodable_image
    m += [('bad_tiny.png', png(Image.new('RGB', (1, 1)))), ('bad_tiny.txt', GOOD_CAPTION)]  # image_too_small
    m += [('bad_nocap.jpg', rgb), ('bad_nocap.json', b'{"status": "success"}')]  # missing_caption
    m += [('bad_empty.jpg', rgb), ('bad_empty.txt', b'  \n\t ')]  # empty_caption
    # 8000 characters: cut to 1000, then to CLIP's 75 tokens; its only noun is 'dog' -> too_few_nouns
    m += [('bad_huge.jpg', rgb), ('bad_huge.txt', b'dog ' * 2000)]
    m += [('bad_onenoun.jpg', rgb), ('bad_onenoun.txt', b'a dog')]  # too_few_nouns
    m += [('bad_adverbs.jpg', rgb), ('bad_adverbs.txt', b'very quickly and then slowly')]  # too_few_nouns: no noun
    m += [('good_long.jpg', rgb), ('good_long.txt', LONG_CAPTION)]  # kept, cut to CLIP's context: caption_truncated
    m += [('bad_noimage.txt', GOOD_CAPTION), ('bad_noimage.json', b'{}')]  # missing_image
    # corrupt header of the image: the reader resynchronises on the .txt -> corrupt_tar_header + missing_image
    m += [('!corrupt', rgb), ('bad_hdr.txt', GOOD_CAPTION)]
    m += [('dup.jpg', rgb), ('dup.txt', GOOD_CAPTION), ('dup.txt', b'second caption')]  # duplicate_member, kept
    m += [('good_last.jpg', rgb), ('good_last.txt', GOOD_CAPTION)]
    expected = dict(undecodable_image=2, image_too_small=1, missing_caption=1, empty_caption=1, too_few_nouns=3,
                    missing_image=2, corrupt_tar_header=1, duplicate_member=1)
    return m, expected, 5 + 3  # five colour modes, good_long, dup, good_last


def write_hostile(path, members, truncate_tail=False):
    buf = io.BytesIO()
    corrupt_at = None
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            if name == '!corrupt':
                corrupt_at = buf.tell()
                name = 'bad_hdr.jpg'
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        data_end = tar.offset  # end of the last member, before the end-of-archive blocks and record padding
    raw = bytearray(buf.getvalue())
    if corrupt_at is not None:
        raw[corrupt_at + 148:corrupt_at + 156] = b'9999999\0'  # invalid checksum field
    if truncate_tail:
        # append a member and cut the file in the middle of its data -> truncated_tar
        extra = io.BytesIO()
        with tarfile.open(fileobj=extra, mode='w', format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo('cut.jpg')
            info.size = 4000
            tar.addfile(info, io.BytesIO(b'\xff' * 4000))
        raw = raw[:data_end] + extra.getvalue()[:512 + 1000]
    with open(path, 'wb') as f:
        f.write(bytes(raw))


@pytest.mark.parametrize('via', ['file', 'pipe'])  # random-access and stream reading of the tar
def test_hostile_shard_exact_counts(tmp_path, via):
    members, expected, n_good = hostile_members()
    write_hostile(tmp_path / 'h.tar', members, truncate_tail=True)
    url = str(tmp_path / 'h.tar') if via == 'file' else f'pipe:cat {tmp_path / "h.tar"}'
    ds = ImageTextDataset(sources=dict(urls=url), pipeline=PIPELINE, shuffle_buffer=0, repeat=False)
    out = list(ds)
    assert len(out) == n_good
    assert sorted(o['data_samples'].key for o in out) == sorted(
        ['good_rgb', 'good_gray', 'good_cmyk', 'good_palette', 'good_rgba', 'good_long', 'dup', 'good_last'])
    assert dict(ds.skip_counts) == dict(expected, truncated_tar=1)
    assert dict(ds.change_counts) == dict(caption_truncated=1)
    # the long caption keeps the whole words open_clip's tokenizer keeps at 77 (75 between SOT and EOT)
    tok = open_clip.tokenizer.SimpleTokenizer()
    kept = next(o for o in out if o['data_samples'].key == 'good_long')['data_samples']
    words = LONG_CAPTION.decode().split()
    n = len(kept.caption.split())
    assert kept.caption.split() == words[:n]
    assert len(tok.encode(kept.caption)) <= 75 < len(tok.encode(' '.join(words[:n + 1])))
    assert set(kept.nouns) <= {'dog', 'cat', 'sofa', 'room', 'lamp'} and len(set(kept.nouns)) == 2
    dup = next(o for o in out if o['data_samples'].key == 'dup')
    assert dup['data_samples'].caption == GOOD_CAPTION.decode()  # the first .txt wins
    previous = {}
    for o in out:
        assert o['inputs'].shape == (3, 16, 16) and str(o['inputs'].dtype) == 'torch.uint8'
        counts = o['data_samples'].metainfo['skip_counts']
        assert all(counts.get(k, 0) >= v for k, v in previous.items())  # cumulative
        previous = counts
    # the last group is emitted after the reader met the cut member, so it carries every skip of the shard
    assert out[-1]['data_samples'].metainfo['skip_counts'] == dict(expected, truncated_tar=1)
    assert out[-1]['data_samples'].metainfo['change_counts'] == dict(caption_truncated=1)
    assert out[-1]['data_samples'].metainfo['skip_source'] == '0:0'


def test_decoded_colour_modes():
    d = DecodeImageBytes()
    imgs = good_images()
    bgr = {k: d.transform(dict(img_bytes=v[1], key=k))['img'] for k, v in imgs.items()}
    assert all(a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 for a in bgr.values())
    assert bgr['gray'].shape == (12, 12, 3) and abs(int(bgr['gray'][6, 6, 0]) - 90) <= 2
    np.testing.assert_allclose(bgr['cmyk'][6, 6], [0, 0, 255], atol=3)  # CMYK (0,255,255,0) = red, stored BGR
    np.testing.assert_array_equal(bgr['palette'][6, 6], [0, 0, 255])  # palette index 1 = red (opaque)
    # 50% blue over white: (255+0)/2, (255+0)/2, 255 in RGB -> BGR (255, 127, 127)
    np.testing.assert_allclose(bgr['rgba'][6, 6], [255, 127, 127], atol=2)
    np.testing.assert_allclose(bgr['rgb'][0, 0], [30, 200, 10], atol=4)
    # fully transparent palette pixel -> white background
    pal = Image.new('P', (10, 10), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info['transparency'] = 0
    np.testing.assert_array_equal(d.transform(dict(img_bytes=png(pal)))['img'][0, 0], [255, 255, 255])


def _ending_good_shard(path, tag):
    """A shard whose bad samples come before good ones (so each worker's counts reach the hook)."""
    rgb = good_images()['rgb'][1]
    members = [(f'{tag}_bad.jpg', b'garbage'), (f'{tag}_bad.txt', GOOD_CAPTION),
               (f'{tag}_one.jpg', rgb), (f'{tag}_one.txt', b'a dog'),
               (f'{tag}_nocap.jpg', rgb)]
    for i in range(3):
        members += [(f'{tag}_g{i}.jpg', rgb), (f'{tag}_g{i}.txt', GOOD_CAPTION if i else LONG_CAPTION)]
    write_hostile(path, members)


class _Runner:
    def __init__(self):
        self.iter = 0
        self.logger = MMLogger.get_instance('skip_hook_test')
        self.message_hub = MessageHub.get_instance('skip_hook_test')


@pytest.mark.parametrize('num_workers', [0, 2])
def test_hook_aggregates_over_workers(tmp_path, num_workers, caplog):
    _ending_good_shard(tmp_path / '00000.tar', 'a')
    _ending_good_shard(tmp_path / '00001.tar', 'b')
    ds = ImageTextDataset(sources=dict(urls=str(tmp_path / '{00000..00001}.tar')), pipeline=PIPELINE,
                          shuffle_buffer=0, repeat=False)
    loader = DataLoader(ds, batch_size=2, num_workers=num_workers, collate_fn=lambda b: dict(
        inputs=[x['inputs'] for x in b], data_samples=[x['data_samples'] for x in b]))
    hook = SkipCounterHook(interval=1000)
    runner = _Runner()
    hook.before_train(runner)
    for i, batch in enumerate(loader):
        runner.iter = i
        hook.after_train_iter(runner, i, batch)
    used, counts = hook.totals()
    # per shard: 1 undecodable, 1 too few nouns, 1 missing caption; 3 good samples, one of them cut to CLIP's context
    assert used == 6
    assert counts == dict(undecodable_image=2, too_few_nouns=2, missing_caption=2)
    hook.after_train(runner)
    assert runner.message_hub.get_info('data_skip_counts') == counts
    assert runner.message_hub.get_info('data_change_counts') == dict(caption_truncated=2)  # one long caption each
