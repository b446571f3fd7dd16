# TSEG Table 2c "tf-idf" ground truth (paper: 28.4 vs 28.8 identity, PhraseCut val): image b's target for a batch
# expression j is the largest tf-idf cosine between j and b's own expressions (projects/tseg/tseg/models/losses.py).
_base_ = ['./tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py']
model = dict(train_cfg=dict(ground_truth='tfidf'))
