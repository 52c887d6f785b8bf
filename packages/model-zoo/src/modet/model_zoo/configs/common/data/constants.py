"""ImageNet pixel statistics, per channel, in 0-255 units."""

constants = dict(
    imagenet_rgb256_mean=[123.675, 116.28, 103.53],
    imagenet_rgb256_std=[58.395, 57.12, 57.375],
    imagenet_bgr256_mean=[103.530, 116.280, 123.675],
    # MSRA's Caffe2 ResNets fold the std into conv1, so their input is divided by 1
    imagenet_bgr256_std=[1.0, 1.0, 1.0],
)
