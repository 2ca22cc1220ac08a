{
 "key": {
  "model": "b6697d1af1f691ff",
  "args": [
   "train",
   "--data",
   "data/mnist",
   "--epochs",
   "10",
   "--seed",
   "2",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/mnist --epochs 10 --seed 2 --quiet --log bench/accuracy/results/logs/int8-lenet5-mnist-s2.jsonl",
 "date": "2026-11-23T09:32:19",
 "wall_seconds": 14.6
}