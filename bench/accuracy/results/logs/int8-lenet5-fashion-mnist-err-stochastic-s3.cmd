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
   "--round-err",
   "stochastic",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 3 --round-err stochastic --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-err-stochastic-s3.jsonl",
 "date": "2026-11-23T09:36:38",
 "wall_seconds": 16.0
}