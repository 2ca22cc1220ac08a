# The LeNet of the NITI paper (Wang et al. 2020) for MNIST:
# conv 20 k5, pool, conv 50 k5, pool, dense 500, dense 10.
model lenet_niti {
    input  image[1, 28, 28]
    output classes(10)

    conv    c1(20, kernel=5)      # (20, 24, 24)
    relu
    maxpool p1(2)                 # (20, 12, 12)
    conv    c2(50, kernel=5)      # (50, 8, 8)
    relu
    maxpool p2(2)                 # (50, 4, 4)
    flatten
    dense   f1(500)
    relu
    dense   f2(10)
}

train {
    data      idx("data/mnist")
    batch     64
    epochs    10
    rounding  act=pseudo err=stochastic grad=pseudo
    update    bits(5) then 4 at 3 then 3 at 6
    weights   int8
    seed      1
}
