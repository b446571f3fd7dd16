# RefCOCO (UNC splits) from the `refer` layout: data/refer/{refcoco,refcoco+,refcocog}/ + COCO train2014 images.
_base_ = ['./refer_pipelines.py']
dataset_type = 'RefCOCOSegDataset'
data_root = 'data/refer'
refer_dataset = 'refcoco'
img_prefix = dict(img_path='images/train2014')
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, dataset=refer_dataset, split='train',
                 data_prefix=img_prefix, pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, dataset=refer_dataset, split='val',
                 data_prefix=img_prefix, pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
