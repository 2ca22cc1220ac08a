# A small VGG-style network for CIFAR-10 shaped input (3 x 32 x 32).
model vgg_small {
    input  image[3, 32, 32]
    output classes(10)

    conv    c1(64, kernel=3, pad=1)
    relu
    conv    c2(64, kernel=3, pad=1)
    relu
    maxpool(2)                    # (64, 16, 16)
    conv    c3(128, kernel=3, pad=1)
    relu
    conv    c4(128, kernel=3, pad=1)
    relu
    maxpool(2)                    # (128, 8, 8)
    conv    c5(256, kernel=3, pad=1)
    relu
    maxpool(2)                    # (256, 4, 4)
    dropout(0.25)
    flatten
    dense   fc(10)
}

train {
    data      idx("data/cifar10")
    batch     32
    epochs    20
    rounding  pseudo
    update    bits(3) then 2 at 10
    weights   int16
    seed      7
}
