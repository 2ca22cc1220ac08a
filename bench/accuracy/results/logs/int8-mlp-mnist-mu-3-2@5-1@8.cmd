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
   "--update-bits",
   "3,2@5,1@8",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/mlp train --data data/mnist --epochs 10 --seed 1 --update-bits 3,2@5,1@8 --quiet --log bench/accuracy/results/logs/int8-mlp-mnist-mu-3-2@5-1@8.jsonl",
 "date": "2026-11-23T09:38:38",
 "wall_seconds": 8.2
}