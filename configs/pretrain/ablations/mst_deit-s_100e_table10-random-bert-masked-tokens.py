# Table 10, row 2: "DINO + pure MLM": random mask (BERT's p = 0.15), BERT
# replacement, restoring the masked tokens only, with the DINO loss.
# Paper: linear 71.9.
_base_ = '../mst_deit-s_100e.py'

model = dict(
    backbone=dict(mask_replacement='bert'),
    masker=dict(_delete_=True, type='RandomMasker', p=0.15),
    restore_masked_only=True)
