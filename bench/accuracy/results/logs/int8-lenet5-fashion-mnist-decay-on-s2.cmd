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
   "--decay",
   "on",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 2 --decay on --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-decay-on-s2.jsonl",
 "date": "2026-11-23T09:36:20",
 "wall_seconds": 17.8
}