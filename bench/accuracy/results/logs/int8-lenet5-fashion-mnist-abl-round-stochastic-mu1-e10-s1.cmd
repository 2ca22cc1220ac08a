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
   "stochastic",
   "--update-bits",
   "1",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --rounding stochastic --update-bits 1 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-stochastic-mu1-e10-s1.jsonl",
 "date": "2026-11-23T09:29:24",
 "wall_seconds": 16.2
}