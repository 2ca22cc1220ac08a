{
 "key": {
  "model": "b6697d1af1f691ff",
  "args": [
   "train",
   "--data",
   "data/fashion-mnist",
   "--epochs",
   "1",
   "--seed",
   "3",
   "--update-bits",
   "4",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 1 --seed 3 --update-bits 4 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-abl-mu4-e1-s3.jsonl",
 "date": "2026-11-23T09:22:17",
 "wall_seconds": 1.6
}