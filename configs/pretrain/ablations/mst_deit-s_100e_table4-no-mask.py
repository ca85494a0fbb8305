# Table 4, "None": MST (decoder + restoration) without any token mask.
# Paper: linear 73.1 (cls token of the last layer, 100 epochs).
_base_ = '../mst_deit-s_100e.py'

model = dict(masker=None)
