"""UnfreezeBlockHook: the copied block stays frozen, then trains identically on 2 DDP ranks (gloo).

The same process launch also checks that InfoNCE (plain and extended) gathered over 2 ranks equals one process
on the global batch (loss and gradients), to pay for one launch only.
"""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch



def build_tiny_tcl(unfreeze_iter=1):
    import mmseg_code  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='TCL',
        clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
        decode_head=dict(type='ImageSegmenter', unfreeze_iter=unfreeze_iter,
                         decoder=dict(type='GatedDecoder', n_layers=2, double=False))))


def make_batch(model, seed, b=2, size=32):
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    words = ['a red square', 'a blue circle', 'a green triangle', 'a yellow star']
    samples = []
    for i in range(b):
        s = SegDataSample(metainfo=dict(caption=words[(seed + i) % 4]))
        s.text_ids = model.clip.text_encoder.tokenize(words[(seed + i) % 4])[0]
        samples.append(s)
    return x, samples


def _infonce_check(rank, world, tmp):
    from mmseg_code.models.losses.infonce import InfoNCE
    v, t, ve = torch.load(os.path.join(tmp, 'inputs.pt'))
    b = v.shape[0] // world
    sl = slice(rank * b, (rank + 1) * b)
    lv, lt = v[sl].clone().requires_grad_(True), t[sl].clone().requires_grad_(True)
    plain = InfoNCE()(lv, lt)
    plain.backward()
    lve, lte = ve[sl].clone().requires_grad_(True), t[sl].clone().requires_grad_(True)
    ext = InfoNCE(extended=True)(lve, lte)
    ext.backward()
    return plain.item(), lv.grad, lt.grad, ext.item(), lve.grad, lte.grad


def _worker(rank, world, port, tmp):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from mmseg_code.engine.hooks.unfreeze_hook import UnfreezeBlockHook
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        infonce = _infonce_check(rank, world, tmp)
        model = build_tiny_tcl(unfreeze_iter=1)
        model.train()
        init = [p.detach().clone() for p in model.decode_head.block.parameters()]
        ddp = DDP(model)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.05)
        hook = UnfreezeBlockHook()
        hook.attach(ddp, SimpleNamespace(optimizer=opt))
        frozen_unchanged = None
        for it in range(2):
            hook.apply(ddp, it)
            x, samples = make_batch(model, seed=10 * it + rank)        # different data on each rank
            losses = ddp(x, samples, mode='loss')
            sum(losses.values()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if it == 0:
                block = list(model.decode_head.block.parameters())
                frozen_unchanged = (all(torch.equal(p, q) for p, q in zip(block, init))
                                    and not any(p in opt.state for p in block))
        block = [p.detach().clone() for p in model.decode_head.block.parameters()]
        dec = [p.detach().clone() for p in model.decode_head.decoder.parameters()]
        torch.save(dict(infonce=infonce, frozen_unchanged=frozen_unchanged, block=block, init=init, dec=dec),
                   os.path.join(tmp, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks(tmp_path):
    from mmseg_code.models.losses.infonce import InfoNCE
    torch.manual_seed(0)
    world, n, d = 2, 4, 8
    v, t, ve = torch.randn(n, d), torch.randn(n, d), torch.randn(n, n, d)
    torch.save((v, t, ve), tmp_path / 'inputs.pt')
    from tests.dist_launch import launch_ranks  # not at module level: the rank processes load this file by path
    launch_ranks(__file__, '_worker', tmp_path, world=world, timeout=240)
    res = [torch.load(tmp_path / f'rank{r}.pt') for r in range(world)]

    # --- the unfreeze hook under DDP
    for r in res:
        assert r['frozen_unchanged'], 'the block changed (or got optimizer state) while frozen'
    for p0, p1, q in zip(res[0]['block'], res[1]['block'], res[0]['init']):
        torch.testing.assert_close(p0, p1, rtol=0, atol=0)          # identical on both ranks
    assert any(not torch.equal(p, q) for p, q in zip(res[0]['block'], res[0]['init']))  # and trained
    for p0, p1 in zip(res[0]['dec'], res[1]['dec']):
        torch.testing.assert_close(p0, p1, rtol=0, atol=0)

    # --- InfoNCE gathered over 2 ranks = one process on the global batch (DDP averages the ranks)
    gv, gt = v.clone().requires_grad_(True), t.clone().requires_grad_(True)
    single = InfoNCE()(gv, gt)
    single.backward()
    gve, gte = ve.clone().requires_grad_(True), t.clone().requires_grad_(True)
    single_ext = InfoNCE(extended=True)(gve, gte)
    single_ext.backward()
    rr = [r['infonce'] for r in res]
    assert np.mean([r[0] for r in rr]) == pytest.approx(single.item(), rel=1e-5)
    assert np.mean([r[3] for r in rr]) == pytest.approx(single_ext.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([r[1] for r in rr]) / world, gv.grad)
    torch.testing.assert_close(torch.cat([r[2] for r in rr]) / world, gt.grad)
    torch.testing.assert_close(torch.cat([r[4] for r in rr]) / world, gve.grad)
    torch.testing.assert_close(torch.cat([r[5] for r in rr]) / world, gte.grad)


def test_hook_single_process_with_fake_runner():
    from mmseg_code.engine.hooks.unfreeze_hook import UnfreezeBlockHook
    model = build_tiny_tcl(unfreeze_iter=3)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.05)
    runner = SimpleNamespace(model=model, optim_wrapper=SimpleNamespace(optimizer=opt), iter=2)
    hook = UnfreezeBlockHook()
    hook.before_train(runner)
    seg = model.decode_head
    assert not seg.block_trainable
    init = [p.detach().clone() for p in seg.block.parameters()]
    x, samples = make_batch(model, 0)
    sum(model.loss(x, samples).values()).backward()
    opt.step()
    assert all(torch.equal(p, q) for p, q in zip(seg.block.parameters(), init))
    runner.iter = 3
    hook.before_train_iter(runner, 3)
    assert seg.block_trainable
    opt.zero_grad(set_to_none=True)
    sum(model.loss(x, samples).values()).backward()
    opt.step()
    assert all(not torch.equal(p, q) for p, q in zip(seg.block.parameters(), init))
    hook.after_train(runner)
    assert hook._handles == []
