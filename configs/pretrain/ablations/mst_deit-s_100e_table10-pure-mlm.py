# Table 10, row 1: pure MLM - random mask (p = 0.15), BERT replacement,
# restoring the masked tokens only, without the DINO loss (lambda1 = 0).
# The EMA teacher still runs (it is cheap and keeps the code path single);
# it no longer influences the random masks.
# Paper: linear 61.0 (about 40% before the authors' tuning, Appendix H).
_base_ = '../mst_deit-s_100e.py'

model = dict(
    backbone=dict(mask_replacement='bert'),
    masker=dict(_delete_=True, type='RandomMasker', p=0.15),
    restore_masked_only=True,
    distill_weight=0.)
