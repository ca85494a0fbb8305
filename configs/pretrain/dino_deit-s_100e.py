# The DINO baseline at 100 epochs (the ablation setting): MST without mask
# and decoder, DINO's head without BN.
# Paper: Table 6 "Baseline" 72.4 without BN in the head (71.6 with BN);
# Table 4 "None" (MST's decoder without a mask) is configs/pretrain/
# ablations/mst_deit-s_100e_table4-no-mask.py.
#   tools/dist_train.sh configs/pretrain/dino_deit-s_100e.py 8
_base_ = './mst_deit-s_100e.py'

# Without the decoder MST sets restore_weight (lambda2) to 0 itself.
model = dict(masker=None, neck=None, head=dict(use_bn=False))
