# TCL* of MGCA (ECCV 2024) Tables 1-2: "we train the current best-performing method TCL on the downloaded CC3M using
# their official code to provide a fair comparison" (Sec. 4.2). So: TCL's own recipe (configs/tcl/tcl_vitb16_cc.py:
# OpenAI ViT-B/16, whole captions, timm RandAugment + RandomErasing, batch 1024, 50k iterations, lr 7.5e-5 -> 1e-5
# after a 15k warmup, decoder-only for the first 30k steps) with CC3M as the only source. The paper states no other
# change (schedule, batch or augmentation), so none is made. Its reported numbers (VOC 51.4, Context 25.1, COCO 28.8;
# VOC20 76.8, C59 28.4, Stuff 18.7, City 20.1, ADE 14.3) are under MGCA's protocol, which reports no PAMR:
#   train:      bash tools/dist_train.sh projects/mgca/configs/tcl_vitb16_cc3m.py 16
#   benchmark:  python tools/benchmark.py projects/mgca/configs/tcl_vitb16_cc3m.py CKPT --data-root data --pamr off
_base_ = ['../../../configs/tcl/tcl_vitb16_cc.py']

train_dataloader = dict(
    dataset=dict(sources=[dict(urls='data/cc3m/{00000..00331}.tar', weight=1.0, name='cc3m')]))
