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
   "2",
   "--rounding",
   "pseudo",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 2 --rounding pseudo --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-pseudo-e10-s2.jsonl",
 "date": "2026-11-23T09:25:04",
 "wall_seconds": 14.9
}