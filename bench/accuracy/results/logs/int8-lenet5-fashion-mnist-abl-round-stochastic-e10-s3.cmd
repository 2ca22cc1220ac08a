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
   "3",
   "--rounding",
   "stochastic",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 3 --rounding stochastic --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-stochastic-e10-s3.jsonl",
 "date": "2026-11-23T09:27:19",
 "wall_seconds": 16.3
}