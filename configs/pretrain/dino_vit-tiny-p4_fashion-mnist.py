# The DINO baseline of the Fashion-MNIST CPU demo: MST without the mask and
# the decoder, DINO's head without BN (as configs/pretrain/dino_deit-s_100e.py
# is to the paper's MST). Compare its k-NN accuracy and loss curves with
# mst_vit-tiny-p4_fashion-mnist.py. Measured with the same budget (6 epochs
# of 500 images per class, 1.5-1.6 s per iteration on 2 CPU cores): the
# teacher drifts to a near-uniform output from epoch 2 (teacher_entropy 7.5
# of ln 2048 = 7.6) and k-NN stays at the untrained level (56%), where MST
# reaches 64%.
#   python tools/train.py configs/pretrain/dino_vit-tiny-p4_fashion-mnist.py
_base_ = './mst_vit-tiny-p4_fashion-mnist.py'

model = dict(
    masker=None, neck=None, restore_weight=0., head=dict(use_bn=False))
