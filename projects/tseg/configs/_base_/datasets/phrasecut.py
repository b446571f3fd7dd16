# PhraseCut (VGPhraseCut_v0): data/VGPhraseCut_v0/{refer_train,refer_val,refer_test}.json, images/ (Visual Genome).
_base_ = ['./refer_pipelines.py']
dataset_type = 'PhraseCutSegDataset'
data_root = 'data/VGPhraseCut_v0'
img_prefix = dict(img_path='images')
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', data_prefix=img_prefix,
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', data_prefix=img_prefix,
                 pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
