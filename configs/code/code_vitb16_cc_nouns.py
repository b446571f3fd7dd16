# CoDe paper, Sec. 4.4 "Effectiveness of jointly decomposing text" (avg 30.2 vs 31.8): L_hcl's similarity matrix S is
# computed from the region embeddings and the embeddings of the individual nouns (the KgCoOp noun embeddings n_j)
# instead of the highlighted word-segment embeddings e_t. Everything else is code_vitb16_cc.py (the text segmenter
# and L^t_seg still train; the word highlighting prompt has nothing to act on and is not built).
_base_ = ['./code_vitb16_cc.py']

model = dict(hcl_text='nouns')
