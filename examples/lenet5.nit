# LeNet-5 on MNIST, integer-only training (NITI recipe)
model lenet5 {
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
    data      idx("data/mnist")       # default; --data overrides
    batch     64
    epochs    10
    rounding  pseudo                  # pseudo | stochastic | nearest
    update    bits(3) then 2 at 5 then 1 at 8   # NITI m_u with an epoch schedule (docs/results.md)
    weights   int8                    # or int16 accumulation
    seed      1
}
