{
 "key": {
  "model": "958cf6a8a3d863a9",
  "args": [
   "train",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "10",
   "--seed",
   "2",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/mlp train --data data/fashion-mnist --epochs 10 --seed 2 --quiet --log bench/accuracy/results/logs/int8-mlp-fashion-mnist-s2.jsonl",
 "date": "2026-11-23T09:32:53",
 "wall_seconds": 8.1
}