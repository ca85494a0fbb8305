# Table 6, "Ours w/o BN": MST with DINO's BN-free projection head.
# Paper: linear 73.1 without BN vs 73.9 with BN (../mst_deit-s_100e.py).
# The baseline's two cells: ../dino_deit-s_100e.py (w/o BN, 72.4) and
# dino_deit-s_100e_table6-head-bn.py (w/ BN, 71.6).
_base_ = '../mst_deit-s_100e.py'

model = dict(head=dict(use_bn=False))
