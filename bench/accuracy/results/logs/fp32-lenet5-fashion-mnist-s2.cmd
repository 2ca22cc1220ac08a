{
 "key": {
  "model": "b6697d1af1f691ff",
  "args": [
   "examples/lenet5.nit",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "10",
   "--seed",
   "2",
   "--threads",
   "1"
  ],
  "mirror": "fb32e79d353e9206"
 },
 "cmd": "/usr/bin/python3 bench/accuracy/torch_mirror.py examples/lenet5.nit --data data/fashion-mnist --epochs 10 --seed 2 --threads 1 --log bench/accuracy/results/logs/fp32-lenet5-fashion-mnist-s2.jsonl",
 "date": "2026-11-23T09:41:43",
 "wall_seconds": 105.0
}