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
   "--update-bits",
   "5",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 2 --update-bits 5 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-mu5-e10-s2.jsonl",
 "date": "2026-11-23T09:26:48",
 "wall_seconds": 14.5
}