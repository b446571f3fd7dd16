"""ImageTextDataset as ``train_dataloader.dataset`` of MMEngine's Runner (``sampler=None``), with the skip hook."""
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.models import SegDataPreProcessor

from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards


class ToyTextImageModel(BaseModel):
    """Consumes exactly the data contract: normalised images + text ids / noun masks."""

    def __init__(self):
        super().__init__(data_preprocessor=SegDataPreProcessor(mean=[123.675, 116.28, 103.53],
                                                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                                                               size=(32, 32)))
        self.img = torch.nn.Linear(3, 1)
        self.txt = torch.nn.Embedding(49408, 1)
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='loss'):
        assert inputs.shape[1:] == (3, 32, 32) and inputs.dtype == torch.float32
        ids = torch.stack([s.text_ids for s in data_samples])
        masks = torch.stack([s.noun_token_mask for s in data_samples])
        assert ids.shape[1] == 77 and masks.shape[1:] == (2, 77)
        self.seen.extend(s.key for s in data_samples)
        loss = self.img(inputs.mean((2, 3))).mean() + (self.txt(ids).squeeze(-1) * masks.any(1)).mean()
        return dict(loss=loss ** 2)


def test_runner_trains_from_shards(tmp_path):
    write_caption_shards(ShapesConfig(image_size=40), str(tmp_path / 'shards'), 60, shard_size=20, progress=False)
    pipeline = [dict(type='DecodeImageBytes'), dict(type='RandomResizedCrop', size=32, scale=(0.9, 1.0)),
                dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='CleanCaption'),
                dict(type='SelectNouns', num_nouns=2, min_nouns=2, tagger='builtin'),
                dict(type='TokenizeCaptionWithNouns'), dict(type='PackImageTextInputs')]
    model = ToyTextImageModel()
    runner = Runner(
        model=model, work_dir=str(tmp_path / 'work'), default_scope='mmseg',
        train_dataloader=dict(batch_size=4, num_workers=2, persistent_workers=True, sampler=None,
                              dataset=dict(type='ImageTextDataset', sources=dict(urls=str(tmp_path / 'shards/*.tar')),
                                           shuffle_buffer=10, pipeline=pipeline)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=30),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='SkipCounterHook', interval=10)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=10), checkpoint=None),
        randomness=dict(seed=0), log_processor=dict(by_epoch=False))
    runner.train()
    assert len(model.seen) == 120  # 30 iterations x 4: endless stream over 60 pairs
    used = runner.message_hub.get_info('data_samples_used')
    counts = runner.message_hub.get_info('data_skip_counts')
    assert used == 120
    assert set(counts) <= {'too_few_nouns'} and counts.get('too_few_nouns', 0) > 0  # single-shape captions
    log = open(next((tmp_path / 'work').rglob('*.log'))).read()
    assert 'data (end of training): 120 samples used' in log and 'too_few_nouns=' in log
