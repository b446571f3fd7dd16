"""Shard splitting across ranks and dataloader workers, endless iteration, mixing weights, seeding, sources."""
import itertools
import json

import pytest
from torch.utils.data import DataLoader

from mmseg_code.datasets import ImageTextDataset

ALL_KEYS = lambda n_shards, per: {f's{s}_{i:03d}' for s in range(n_shards) for i in range(per)}  # noqa: E731


def keys(ds):
    return [r['key'] for r in ds]


def loader_keys(ds, num_workers):
    loader = DataLoader(ds, batch_size=None, num_workers=num_workers)
    return [r['key'] for r in loader]


@pytest.mark.parametrize('n_shards', [4, 1])  # 1 shard < 2 ranks: sample-wise split
def test_two_ranks_disjoint_and_complete(tmp_path, helpers, n_shards):
    urls = helpers.write_simple_shards(str(tmp_path), n_shards, 10)
    seen = [keys(ImageTextDataset(sources=dict(urls=urls), rank=r, world_size=2, repeat=False, shuffle_buffer=5))
            for r in range(2)]
    assert all(len(k) == len(set(k)) for k in seen)
    assert not set(seen[0]) & set(seen[1])
    assert set(seen[0]) | set(seen[1]) == ALL_KEYS(n_shards, 10)
    assert len(seen[0]) == len(seen[1]) == n_shards * 5


def test_workers_of_two_ranks_disjoint(tmp_path, helpers):
    urls = helpers.write_simple_shards(str(tmp_path), 4, 6)
    per_rank = [loader_keys(ImageTextDataset(sources=dict(urls=urls), rank=r, world_size=2, repeat=False,
                                             shuffle_buffer=3), num_workers=2) for r in range(2)]
    # 4 global workers, 4 shards: one shard each
    for k in per_rank:
        assert len(k) == 12 and len({x.split('_')[0] for x in k}) == 2
    assert not set(per_rank[0]) & set(per_rank[1])
    assert set(per_rank[0]) | set(per_rank[1]) == ALL_KEYS(4, 6)


def test_worker_split_with_one_shard(tmp_path, helpers):
    urls = helpers.write_simple_shards(str(tmp_path), 1, 9)
    k = loader_keys(ImageTextDataset(sources=dict(urls=urls), repeat=False, shuffle_buffer=0), num_workers=2)
    assert sorted(k) == sorted(ALL_KEYS(1, 9))


def test_seeded_order(tmp_path, helpers):
    urls = helpers.write_simple_shards(str(tmp_path), 3, 10)

    def run(seed):
        return keys(ImageTextDataset(sources=dict(urls=urls), repeat=False, shuffle_buffer=8, seed=seed))
    assert run(1) == run(1)
    assert run(1) != run(2)
    assert sorted(run(1)) == sorted(ALL_KEYS(3, 10))


def test_endless_iteration_reshuffles_rounds(tmp_path, helpers):
    urls = helpers.write_simple_shards(str(tmp_path), 2, 5)
    ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=0, seed=0)
    k = [r['key'] for r in itertools.islice(iter(ds), 100)]
    assert len(k) == 100
    rounds = [k[i:i + 10] for i in range(0, 100, 10)]
    assert all(sorted(r) == sorted(ALL_KEYS(2, 5)) for r in rounds)  # each pass covers everything once
    assert len({tuple(r) for r in rounds}) == 2  # two shard orders (2! permutations), both used


def test_mixing_weights(tmp_path, helpers):
    a = helpers.write_simple_shards(str(tmp_path / 'a'), 2, 5, prefix='a')
    b = helpers.write_simple_shards(str(tmp_path / 'b'), 2, 5, prefix='b')
    ds = ImageTextDataset(sources=[dict(urls=a, weight=3.0), dict(urls=b, weight=1.0)], shuffle_buffer=0)
    k = [r['key'] for r in itertools.islice(iter(ds), 4000)]
    frac_a = sum(x.startswith('a') for x in k) / len(k)
    assert abs(frac_a - 0.75) < 0.03  # binomial sd ~ 0.007


def test_finite_mix_exhausts_both_sources(tmp_path, helpers):
    a = helpers.write_simple_shards(str(tmp_path / 'a'), 1, 5, prefix='a')
    b = helpers.write_simple_shards(str(tmp_path / 'b'), 1, 7, prefix='b')
    ds = ImageTextDataset(sources=[dict(urls=a, weight=10.0), dict(urls=b)], shuffle_buffer=0, repeat=False)
    assert len(keys(ds)) == 12


def test_pattern_matching_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match='matched no file'):
        ImageTextDataset(sources=dict(urls=str(tmp_path / 'nope/{00000..00009}.tar')))
    with pytest.raises(ValueError, match="needs 'urls'"):
        ImageTextDataset(sources=dict(path='x'))


def test_caption_file_sources(tmp_path, helpers):
    img = helpers.image_bytes((20, 20))
    (tmp_path / 'images').mkdir()
    for i in range(3):
        (tmp_path / 'images' / f'{i}.jpg').write_bytes(img)
    jsonl = tmp_path / 'pairs.jsonl'
    jsonl.write_text('\n'.join(json.dumps(dict(image=f'images/{i}.jpg', caption=f'a dog and a cat {i}'))
                               for i in range(3)) + '\n{not json\n'
                     + json.dumps(dict(image='images/missing.jpg', caption='a dog and a cat')) + '\n')
    csv = tmp_path / 'pairs.csv'
    csv.write_text('file,text\nimages/0.jpg,"a dog, a cat"\nimages/1.jpg,a bird on a tree\n')
    pipeline = [dict(type='DecodeImageBytes'), dict(type='RandomResizedCrop', size=8),
                dict(type='CleanCaption'), dict(type='SelectNouns', tagger='builtin', min_nouns=1),
                dict(type='TokenizeCaptionWithNouns'), dict(type='PackImageTextInputs')]
    ds = ImageTextDataset(sources=[dict(ann_file=str(jsonl)),
                                   dict(ann_file=str(csv), image_key='file', caption_key='text')],
                          pipeline=pipeline, repeat=False, shuffle_buffer=0)
    out = list(ds)
    assert sorted(o['data_samples'].caption for o in out) == [
        'a bird on a tree', 'a dog and a cat 0', 'a dog and a cat 1', 'a dog and a cat 2', 'a dog, a cat']
    assert dict(ds.skip_counts) == dict(missing_image=1)
    sample = out[0]['data_samples']
    assert out[0]['inputs'].shape == (3, 8, 8)
    assert sample.text_ids.shape == (77,) and sample.noun_token_mask.shape == (2, 77)
    assert sample.noun_valid.dtype.is_floating_point is False and sample.word_labels.shape == (77,)


def test_resampled_shards(tmp_path, helpers):
    """``resample=True``: shards drawn with replacement (``wds.ResampledShards``), each read whole, endless, fixed by
    the seed; a single pass (``repeat=False``) makes no sense for it and is refused."""
    urls = helpers.write_simple_shards(str(tmp_path), 3, 4)

    def run(seed):
        ds = ImageTextDataset(sources=dict(urls=urls, resample=True), shuffle_buffer=0, seed=seed)
        return [r['key'] for r in itertools.islice(iter(ds), 120)]
    k = run(0)
    blocks = [k[i:i + 4] for i in range(0, 120, 4)]
    # every block of 4 is one whole shard in its stored order: 's{n}_000' .. 's{n}_003'
    assert all(b == [f'{b[0].split("_")[0]}_{i:03d}' for i in range(4)] for b in blocks)
    shards = [b[0].split('_')[0] for b in blocks]
    assert set(shards) == {'s0', 's1', 's2'}
    assert any(a == b for a, b in zip(shards, shards[1:]))  # with replacement: 30 draws of 3 shards repeat one
    assert run(0) == k and run(1) != k
    with pytest.raises(ValueError, match='needs repeat=True'):
        next(iter(ImageTextDataset(sources=dict(urls=urls, resample=True), repeat=False)))


def test_order_is_the_pre_webdataset_order(tmp_path, helpers):
    """The sample order did not change with the move to webdataset stages (the README's main-job table depends on
    it): pass ``p`` over the shards is ``numpy.random.default_rng([seed, source, p]).permutation``, and the shuffle
    buffer keeps ``shuffle_buffer`` samples and sends out the one at ``default_rng([seed, 7919, worker, workers,
    round]).integers(len(buffer))`` (replaced by the last). Reference computed here, independently of the dataset."""
    import numpy as np
    n_shards, per, buf, seed = 5, 6, 7, 3
    urls = helpers.write_simple_shards(str(tmp_path), n_shards, per)

    def reference():
        def passes():
            for p in itertools.count():
                for s in np.random.default_rng([seed, 0, p]).permutation(n_shards):
                    yield from (f's{s}_{i:03d}' for i in range(per))
        rng, pool = np.random.default_rng([seed, 7919, 0, 1, 0]), []
        for key in passes():
            pool.append(key)
            if len(pool) >= buf:
                j = int(rng.integers(len(pool)))
                pool[j], pool[-1] = pool[-1], pool[j]
                yield pool.pop()

    ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=buf, seed=seed)
    got = [r['key'] for r in itertools.islice(iter(ds), 3 * n_shards * per)]
    assert got == list(itertools.islice(reference(), 3 * n_shards * per))
    unshuffled = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=0, seed=seed, repeat=False)
    assert keys(unshuffled) == list(itertools.islice(
        (f's{s}_{i:03d}' for s in np.random.default_rng([seed, 0, 0]).permutation(n_shards) for i in range(per)),
        n_shards * per))
