# Tiny variant of code_vitb16_cc_nouns.py (Sec. 4.4: L_hcl on noun embeddings instead of word segments).
_base_ = ['./code_tiny.py']
model = dict(hcl_text='nouns')
