# A 784-512-256-10 multilayer perceptron on MNIST.
model mlp {
    input  image[1, 28, 28]
    output digits(10)

    flatten
    dense  h1(512)
    relu
    dense  h2(256)
    relu
    dense  logits(10)
}

train {
    data      idx("data/mnist")
    batch     64
    epochs    10
    rounding  pseudo
    update    bits(3) then 2 at 5 then 1 at 8   # docs/results.md
    weights   int8
    seed      1
}
