# Every token class of grammar/nit.l, for tests/companions/editors.sh
model sample {
    input  x[1, 28, 28]
    output classes(10)
    let a = relu(conv c1(x, 8, kernel=3, pad=1))   # } is no end here
    let b = batchnorm(a, eps=0.00001) + a
    maxpool(2)
    flatten; dropout(0.25)
    dense head(10)
}
train {
    recipe   shiftquant
    data     idx("data/\"q\"\\")
    rounding act=nearest update=stochastic
    lr       0.1 then 0.01 at 5
    bits     act=8 weight=8 grad=4
    groups   channel
    update   bits(3)
    loss     softmax_ce(exp=table)
}
train { batch 64; seed 1 }
12abc
"no end
"bad \n escape"
x $ y
"tab	here"
