# The DINO baseline of the Fashion-MNIST CPU demo: MST without the mask and
# the decoder, everything else equal, the projection head with BN included
# (the paper's Table 6 runs DINO both ways; at this scale the head without BN
# collapsed first, docs/small_scale_collapse.md), so that the comparison with
# mst_vit-tiny-p4_fashion-mnist.py isolates MST's two additions.
#   python tools/train.py configs/pretrain/dino_vit-tiny-p4_fashion-mnist.py
_base_ = './mst_vit-tiny-p4_fashion-mnist.py'

# Without the decoder MST sets restore_weight (lambda2) to 0 itself.
model = dict(masker=None, neck=None)
