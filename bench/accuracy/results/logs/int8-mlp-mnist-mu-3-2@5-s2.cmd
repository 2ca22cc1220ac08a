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
   "--update-bits",
   "3,2@5",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/mlp train --data data/mnist --epochs 10 --seed 2 --update-bits 3,2@5 --quiet --log bench/accuracy/results/logs/int8-mlp-mnist-mu-3-2@5-s2.jsonl",
 "date": "2026-11-23T09:38:56",
 "wall_seconds": 8.2
}