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
   "--decay",
   "on",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --decay on --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-decay-on.jsonl",
 "date": "2026-11-23T09:35:24",
 "wall_seconds": 16.9
}