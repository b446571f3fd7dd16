"""CoDe under DDP (2 gloo CPU processes, B=2 each) vs one process on the global batch (B=4).

Masks are made deterministic (eval-mode Sim2Mask) and n' uses the fixed paper template, so both runs see the same
triplets. Every loss term that is a mean over triplets (L_kg, TCL's terms, L_hcl, gathered over ranks) averages over
the ranks to the single-process value; L^t_seg is a weighted mean per rank, so it only agrees approximately. The
gradients of P_v, P_t and L_hcl's temperature (which only the exact terms reach) agree after DDP's averaging.
"""
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKED_GRADS = ('region_prompt.prompt', 'word_prompt.prompt', 'hcl_loss.logit_scale')


def _model_and_batch(b_slice):
    sys.path.insert(0, HERE)
    import mmseg_code  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from test_code_segmentor import CAPTIONS, make_samples, tiny_cfg
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(text_encoder=dict(type='KgCoOpTextClassifier',
                                                    noun_prompt=dict(type='KgCoOpNounPrompt', kg_templates='photo'))))
    model.eval()  # deterministic hard masks
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 32, 32, generator=g)
    caps = [CAPTIONS[0], CAPTIONS[1], CAPTIONS[3], ('a blue square above a red circle', ['square', 'circle'])]
    samples = make_samples(model.clip.text_encoder, caps)
    return model, x[b_slice], samples[b_slice]


def _run(model, x, samples, forward):
    losses = forward(x, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if n in CHECKED_GRADS}
    return {k: v.item() for k, v in losses.items()}, grads


def _worker(rank, world, port, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        model, x, samples = _model_and_batch(slice(2 * rank, 2 * rank + 2))
        ddp = DDP(model, find_unused_parameters=False)
        losses, grads = _run(model, x, samples, lambda a, b: ddp(a, b, mode='loss'))
        torch.save(dict(losses=losses, grads=grads), os.path.join(out, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_ddp_two_ranks_equal_one_process(tmp_path):
    from tests.dist_launch import launch_ranks  # not at module level: the rank processes load this file by path
    launch_ranks(__file__, '_worker', tmp_path, timeout=300)

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, x, samples = _model_and_batch(slice(0, 4))
        single, single_grads = _run(model, x, samples, model.loss)
    finally:
        torch.set_num_threads(n)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    for key, value in single.items():
        mean = sum(r['losses'][key] for r in ranks) / 2
        if key == 'loss_seg_txt':
            assert mean == pytest.approx(value, rel=0.2), key
        elif key != 'seg_img':
            assert mean == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for name in CHECKED_GRADS:
        ddp_grad = ranks[0]['grads'][name]
        torch.testing.assert_close(ddp_grad, ranks[1]['grads'][name])  # DDP all-reduced: identical on both ranks
        torch.testing.assert_close(ddp_grad, single_grads[name], rtol=1e-3, atol=1e-7)
