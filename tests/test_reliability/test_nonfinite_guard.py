"""NonFiniteGuardHook through MMEngine's Runner: a NaN/Inf loss (or gradient) skips the step without touching the
weights or AdamW's state, is logged and counted; N consecutive ones stop training with one clear error."""
import copy
import itertools

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mmseg_code  # noqa: F401
from mmseg_code.engine.hooks.nonfinite_guard_hook import NonFiniteLossError


_ids = itertools.count()


class ToyModel(BaseModel):
    """loss = mean((w·x − 1)²), made NaN / Inf (loss) or gradient-Inf (finite loss) by a per-sample code."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x, code = inputs[:, :2], inputs[:, 2]
        loss = ((self.lin(x).squeeze(-1) - 1.0) ** 2).mean()
        if (code == 1).any():
            loss = loss * float('nan')
        elif (code == 2).any():
            loss = loss + float('inf')
        elif (code == 3).any():  # finite (0) loss whose gradient is +inf: d sqrt(u)/du at u = 0
            loss = loss + torch.sqrt((self.lin.weight - self.lin.weight.detach()).sum())
        return dict(loss=loss)


class Recorder(Hook):
    priority = 'VERY_LOW'

    def __init__(self):
        self.before, self.after = {}, {}

    def _snap(self, runner):
        model = runner.model
        opt = runner.optim_wrapper.optimizer
        return (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()['state']))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.before[runner.iter + 1] = self._snap(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.after[runner.iter + 1] = self._snap(runner)


def _runner(tmp_path, codes, max_consecutive=3):
    data = [dict(inputs=torch.tensor([1.0, 2.0, float(c)])) for c in codes]
    recorder = Recorder()
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), default_scope='mmseg', experiment_name=f'guard_{next(_ids)}',
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False), batch_size=1,
                              collate_fn=dict(type='default_collate'), num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=len(codes), val_interval=10 ** 6),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1, weight_decay=0.1), clip_grad=dict(max_norm=1.0)),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='NonFiniteGuardHook', max_consecutive=max_consecutive), recorder],
        log_level='WARNING')
    return runner, recorder


def _same(a, b):
    (wa, sa), (wb, sb) = a, b
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert all(torch.equal(torch.as_tensor(sa[k][n]), torch.as_tensor(sb[k][n])) for n in sa[k])


@pytest.mark.parametrize('code', [1, 2, 3], ids=['nan_loss', 'inf_loss', 'inf_grad'])
def test_nonfinite_step_is_skipped_and_counted(tmp_path, code, capsys):
    runner, rec = _runner(tmp_path, [0, 0, code, 0])
    runner.train()
    _same(rec.before[3], rec.after[3])                       # skipped: weights and AdamW moments untouched
    with pytest.raises(AssertionError):
        _same(rec.before[4], rec.after[4])                   # the next finite step trains again
    with pytest.raises(AssertionError):
        _same(rec.before[2], rec.after[2])
    assert runner.message_hub.get_info('nonfinite_skipped_total') == 1
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    msgs = [line for line in capsys.readouterr().out.splitlines() if 'NonFiniteGuardHook:' in line]
    assert len(msgs) == 1 and 'iteration 3' in msgs[0] and 'step skipped' in msgs[0]


def test_consecutive_nonfinite_steps_stop_training(tmp_path):
    runner, rec = _runner(tmp_path, [0, 1, 0, 1, 2, 1, 0], max_consecutive=3)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert '\n' not in msg and '3 consecutive training steps' in msg and 'iteration 6' in msg
    assert sorted(rec.after) == [1, 2, 3, 4, 5]              # iteration 6 raised; 2 and 4–5 skipped
    _same(rec.before[4], rec.after[5])
    assert runner.message_hub.get_info('nonfinite_skipped_total') == 4  # 2, 4, 5, 6 skipped


def test_bad_max_consecutive():
    from mmseg_code.engine.hooks.nonfinite_guard_hook import NonFiniteGuardHook
    with pytest.raises(ValueError, match='max_consecutive must be >= 0'):
        NonFiniteGuardHook(max_consecutive=-1)
