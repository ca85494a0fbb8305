# The DINO baseline the paper compares with: the same code, data and
# schedule as mst_deit-s_300e.py, without the mask and without the decoder,
# and DINO's head (no BN).
# Paper (Table 1, DINO's numbers): linear 75.2 / 75.9 (DINO's protocol),
# k-NN 72.8.
#   tools/dist_train.sh configs/pretrain/dino_deit-s_300e.py 8
_base_ = './mst_deit-s_300e.py'

# Without the decoder MST sets restore_weight (lambda2) to 0 itself.
model = dict(masker=None, neck=None, head=dict(use_bn=False))
