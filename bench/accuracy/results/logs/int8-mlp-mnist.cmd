{
 "key": {
  "model": "958cf6a8a3d863a9",
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
 "cmd": "bench/accuracy/results/bin/mlp train --data data/mnist --epochs 10 --seed 1 --quiet --log bench/accuracy/results/logs/int8-mlp-mnist.jsonl",
 "date": "2026-11-23T09:10:43",
 "wall_seconds": 8.3
}