{
 "key": {
  "model": "b6697d1af1f691ff",
  "args": [
   "train",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "1",
   "--seed",
   "4",
   "--rounding",
   "pseudo",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 1 --seed 4 --rounding pseudo --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-pseudo-e1-s4.jsonl",
 "date": "2026-11-23T09:22:20",
 "wall_seconds": 1.6
}