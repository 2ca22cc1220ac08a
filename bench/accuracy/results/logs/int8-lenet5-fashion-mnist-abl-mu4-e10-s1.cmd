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
   "--update-bits",
   "4",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --update-bits 4 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-mu4-e10-s1.jsonl",
 "date": "2026-11-23T09:24:34",
 "wall_seconds": 15.3
}