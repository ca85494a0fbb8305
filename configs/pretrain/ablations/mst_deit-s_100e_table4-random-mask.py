# Table 4, "Random Mask": BERT-style random mask (Eq. 3) at Table 4's common
# probability p = 0.05 instead of the attention-guided one. Every token is a
# candidate, so this is Table 5's num=1 row.
# Paper: linear 63.2 (100 epochs) = Table 5's cell num=1, p=0.05 - random
# masking hides crucial regions.
_base_ = '../mst_deit-s_100e.py'

model = dict(masker=dict(_delete_=True, type='RandomMasker', p=0.05))
