# Contrastive pre-training of the shapes CLIP (mmcode-shapes-vit: ViT 64 px / patch 8, text context 32, 4.15M
# parameters) on synthetic shapes captions -- the recipe of checkpoints/shapes_clip.pth, which the main job starts
# from in place of a downloaded CLIP. 4000 iterations x 64 pairs, over an hour on one CPU core:
#   python tools/dataset_converters/make_synthetic_shapes.py --out data/shapes_pretrain --num-train 30000 \
#       --num-val 500 --image-size 64 --seed 0
#   OMP_NUM_THREADS=1 python tools/train.py configs/clip_pretrain/shapes_clip_vit.py --work-dir work_dirs/shapes_clip
# writes work_dirs/shapes_clip/shapes_clip.pth (ExportCLIPHook); tools/pretrain_clip.py --out FILE does both steps.
# Recipe: CLIP InfoNCE with multi-positive targets (identical texts of a batch merged, object prompts true of every
# image showing the object), half the images grey with colour-free captions, a shape curriculum over the first 20 %,
# AdamW lr 1e-3 (0.9, 0.98), wd 0.1 except gains/biases/embeddings/temperature, 5 % linear warm-up then cosine,
# grad-norm clip 1.0. Validation every 500 iterations on 500 held-out benchmark images: zero-shot shape accuracy of
# single-shape images and the MaskCLIP dense read-out's mIoU over the shapes on object pixels (background ignored).
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/shapes_clip_4k.py']

data_root = 'data/shapes_pretrain'
model_name = 'mmcode-shapes-vit'
image_size = 64
context_length = 32
batch_size = 64
class_names = ('circle', 'square', 'triangle', 'star')

model = dict(
    type='CLIPPretrainer',
    model_name=model_name,
    pretrained=None,
    loss=dict(type='MultiPositiveClipLoss'),
    class_names=class_names,
    templates='all',
    curriculum_templates='all',
    subcaption_prob=0.6,
    object_prompt_prob=1.0,
    grey_prob=0.5,
    seed=0,
    data_preprocessor=dict(type='SegDataPreProcessor', bgr_to_rgb=True, size=(image_size, image_size)))

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),  # captions name only vertical relations
    dict(type='CleanCaption', context_length=context_length),
    dict(type='TokenizeCaptionWithNouns', context_length=context_length),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=None,
    dataset=dict(type='ImageTextDataset', sources=dict(urls=data_root + '/shards/*.tar'), shuffle_buffer=10000,
                 seed=0, pipeline=train_pipeline))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    batch_size=50,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ClassListSegDataset', data_root=data_root + '/seg', class_file='class_names.txt',
                 metainfo=dict(classes=class_names), reduce_zero_label=True,  # background -> 255 (ignored)
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']), dict(type='ZeroShotClassAccuracy')]
test_evaluator = val_evaluator


default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=2))
custom_hooks = _base_.custom_hooks + [dict(type='ShapeCurriculumHook', fraction=0.2),
                                     dict(type='ExportCLIPHook', out='shapes_clip.pth')]
