{
 "key": {
  "model": "b6697d1af1f691ff",
  "args": [
   "train",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "10",
   "--seed",
   "1",
   "--rounding",
   "pseudo",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --rounding pseudo --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-pseudo-e10-s1.jsonl",
 "date": "2026-11-23T09:23:04",
 "wall_seconds": 15.1
}