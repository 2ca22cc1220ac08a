{
 "key": {
  "model": "fd9f9c30f6ec1d05",
  "args": [
   "examples/lenet_niti.nit",
   "--data",
   "data/mnist",
   "--epochs",
   "10",
   "--seed",
   "1",
   "--threads",
   "1"
  ],
  "mirror": "fb32e79d353e9206"
 },
 "cmd": "/usr/bin/python3 bench/accuracy/torch_mirror.py examples/lenet_niti.nit --data data/mnist --epochs 10 --seed 1 --threads 1 --log bench/accuracy/results/logs/fp32-lenet_niti-mnist.jsonl",
 "date": "2026-11-23T09:21:24",
 "wall_seconds": 631.8
}