# Table 4, "Random Mask": BERT-style random mask (Eq. 3) at MST's
# probability p = 0.1 instead of the attention-guided one.
# Paper: linear 63.2 (100 epochs) - random masking hides crucial regions.
_base_ = '../mst_deit-s_100e.py'

model = dict(masker=dict(_delete_=True, type='RandomMasker', p=0.1))
