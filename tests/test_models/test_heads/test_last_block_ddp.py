"""CoDe with NACLIP's attention in the trainable last block under DDP (2 gloo CPU processes,
``find_unused_parameters=False``, the configs' setting): the copy's unused FFN is excluded from the gradient
reduction, so two consecutive steps run (DDP raises in the second step when a parameter it expects got no gradient),
and the block's attention weights get the same all-reduced gradient on both ranks."""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _worker(rank, world, port, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'test_models', 'test_segmentors'))
    import mmseg_code  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from test_code_segmentor import batch, tiny_cfg
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        init_default_scope('mmseg')
        torch.manual_seed(0)
        cfg = tiny_cfg()
        cfg['decode_head'] = dict(cfg['decode_head'], last_block='naclip', unfreeze_iter=0)
        model = MODELS.build(cfg).train()
        ddp = DDP(model, find_unused_parameters=False)
        for step in range(2):
            x, samples = batch(model, b=2, size=32, seed=rank + 2 * step)
            model.zero_grad()
            losses = ddp(x, samples, mode='loss')
            sum(v for k, v in losses.items() if 'loss' in k).backward()
        grad = model.decode_head.block.attn.in_proj_weight.grad.detach().clone()
        torch.save(dict(grad=grad, mlp_grad=model.decode_head.block.mlp.c_fc.weight.grad),
                   os.path.join(out, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_naclip_block_code_step_under_ddp(tmp_path):
    from tests.dist_launch import launch_ranks  # not at module level: the rank processes load this file by path
    launch_ranks(__file__, '_worker', tmp_path, timeout=500)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    assert ranks[0]['grad'].abs().sum() > 0
    torch.testing.assert_close(ranks[0]['grad'], ranks[1]['grad'])        # all-reduced
    assert ranks[0]['mlp_grad'] is None and ranks[1]['mlp_grad'] is None  # the unused FFN: no gradient, not reduced
