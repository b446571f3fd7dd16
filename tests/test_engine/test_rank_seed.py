"""Issue 17 item 2: DDP ranks draw different random streams (official code: seed + rank), the data split does not.

Two gloo CPU processes apply the config's ``randomness`` exactly as MMEngine's runner does (``set_random_seed(**
randomness)``), build the CoDe tiny model from ``configs/code/code_tiny.py`` and draw (a) Gumbel noise from the global
torch RNG (Sim2Mask's training-time hard masks) and (b) KgCoOp template indices from the noun prompt's generator. The
draws must differ between the ranks, while the image-text stream built from the same config (rank taken from the
process group) stays disjoint across ranks and complete.
"""
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _worker(rank, world, port, out, shards):
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        import mmseg_code  # noqa: F401
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmengine.runner.utils import set_random_seed
        from mmseg.registry import DATASETS, MODELS

        from mmseg_code.models.heads.image_segmenter import Sim2Mask
        from mmseg_code.models.prompts.noun_prompt import KgCoOpNounPrompt
        init_default_scope('mmseg')
        cfg = Config.fromfile(os.path.join(ROOT, 'configs/code/code_tiny.py'))
        seed = set_random_seed(**cfg.randomness)  # what Runner.set_randomness does
        model = MODELS.build(cfg.model)
        prompt = next(m for m in model.modules() if isinstance(m, KgCoOpNounPrompt))
        sim2mask = next(m for m in model.modules() if isinstance(m, Sim2Mask)).train()
        gumbel = sim2mask.hard(torch.zeros(1, 4, 8, 8))
        templates = prompt.sample_templates(64)
        same = KgCoOpNounPrompt(text_encoder=prompt.text_encoder, seed=0, rank_seed=False).sample_templates(64)
        ds_cfg = cfg.train_dataloader.dataset
        ds_cfg.update(sources=dict(urls=shards), repeat=False, shuffle_buffer=4)
        keys = [r['data_samples'].metainfo.get('key') for r in DATASETS.build(ds_cfg)]
        torch.save(dict(seed=seed, gumbel=gumbel, templates=templates, same=same, keys=keys),
                   os.path.join(out, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_ranks_draw_different_noise_and_templates_but_split_the_data(tmp_path):
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards
    shards = tmp_path / 'shards'
    write_caption_shards(ShapesConfig(image_size=32), str(shards), 16, 4, progress=False)
    from tests.dist_launch import launch_ranks  # not at module level: the rank processes load this file by path
    launch_ranks(__file__, '_worker', tmp_path, str(shards) + '/*.tar', timeout=300, cwd=ROOT)
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt') for r in range(2))
    assert (r0['seed'], r1['seed']) == (0, 1)  # seed + rank
    assert not torch.equal(r0['gumbel'], r1['gumbel'])
    assert not torch.equal(r0['templates'], r1['templates'])
    assert torch.equal(r0['same'], r1['same'])  # rank_seed=False: the old behaviour, one stream for all ranks
    # the stream's split uses the dataset's own seed: disjoint and complete across the ranks
    k0, k1 = r0['keys'], r1['keys']
    assert None not in k0 + k1
    assert len(k0) == len(set(k0)) and len(k1) == len(set(k1))
    assert not set(k0) & set(k1)
    assert len(k0) + len(k1) == 16

