# LeNet-5 on MNIST under recipe ghaffari: integer SGD with momentum on int16
# masters, 8-bit views, a learning-rate schedule and the table softmax loss
model lenet5_ghaffari {
    input  image[1, 28, 28]
    output classes(10)

    conv    c1(6, kernel=5, pad=2)
    relu
    maxpool(2)
    conv    c2(16, kernel=5)
    relu
    maxpool(2)
    flatten
    dense   f1(120)
    relu
    dense   f2(84)
    relu
    dense   f3(10)
}

train {
    recipe    ghaffari                # integer SGD on int16 masters (docs/recipes.md)
    data      idx("data/mnist")
    batch     64
    epochs    10
    lr        0.1 then 0.01 at 8
    momentum  0.9
    decay     0.0005
    seed      1
}
