{
 "key": {
  "model": "958cf6a8a3d863a9",
  "args": [
   "examples/mlp.nit",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "10",
   "--seed",
   "1",
   "--threads",
   "1"
  ],
  "mirror": "fb32e79d353e9206"
 },
 "cmd": "/usr/bin/python3 bench/accuracy/torch_mirror.py examples/mlp.nit --data data/fashion-mnist --epochs 10 --seed 1 --threads 1 --log bench/accuracy/results/logs/fp32-mlp-fashion-mnist.jsonl",
 "date": "2026-11-23T09:08:59",
 "wall_seconds": 348.1
}