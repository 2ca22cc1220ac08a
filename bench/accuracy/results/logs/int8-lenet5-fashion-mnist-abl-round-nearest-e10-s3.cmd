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
   "nearest",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 3 --rounding nearest --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-round-nearest-e10-s3.jsonl",
 "date": "2026-11-23T09:27:34",
 "wall_seconds": 14.9
}