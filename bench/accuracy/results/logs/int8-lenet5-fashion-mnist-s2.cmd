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
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 2 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-s2.jsonl",
 "date": "2026-11-23T09:32:45",
 "wall_seconds": 15.0
}