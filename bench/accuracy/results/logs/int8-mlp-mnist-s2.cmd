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
   "2",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/mlp train --data data/mnist --epochs 10 --seed 2 --quiet --log bench/accuracy/results/logs/int8-mlp-mnist-s2.jsonl",
 "date": "2026-11-23T09:32:27",
 "wall_seconds": 7.9
}