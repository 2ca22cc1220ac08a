# LeNet-5 on MNIST under recipe unified (Zhu et al.): every layer's error is
# clipped at the level whose int8 copy points most nearly the same way as the
# exact error (searched every 100 steps, held between), and each layer's
# learning rate shrinks with its error's cosine distance (docs/recipes.md)
model lenet5_unified {
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
    recipe    unified
    data      idx("data/mnist")
    batch     64
    epochs    10
    clip      cosine(every=100, range=4)
    lrscale   exp(alpha=20, beta=0.1)
    lr        cosine(0.1, period=10)
    momentum  0.9
    decay     0.0005
    seed      1
}
