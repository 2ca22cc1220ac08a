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
   "--decay",
   "on",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 3 --decay on --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-decay-on-s3.jsonl",
 "date": "2026-11-23T09:37:15",
 "wall_seconds": 17.0
}