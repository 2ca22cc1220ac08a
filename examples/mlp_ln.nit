# A multi-layer perceptron with layer normalization under recipe ghaffari
# (docs/recipes.md): each sample's features are normalized with integer
# statistics, in training and evaluation alike.
model mlp_ln {
    input  image[1, 28, 28]
    output classes(10)

    flatten
    dense  f1(256)
    layernorm
    relu
    dense  f2(128)
    layernorm
    relu
    dense  f3(10)
}

train {
    recipe    ghaffari
    data      idx("data/mnist")
    batch     64
    epochs    10
    lr        0.05 then 0.005 at 8
    momentum  0.9
    decay     0.0005
    seed      1
}
