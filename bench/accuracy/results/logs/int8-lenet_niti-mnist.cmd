{
 "key": {
  "model": "fd9f9c30f6ec1d05",
  "args": [
   "train",
   "--data",
   "data/mnist",
   "--epochs",
   "10",
   "--seed",
   "1",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet_niti train --data data/mnist --epochs 10 --seed 1 --quiet --log bench/accuracy/results/logs/int8-lenet_niti-mnist.jsonl",
 "date": "2026-11-23T09:10:33",
 "wall_seconds": 47.2
}