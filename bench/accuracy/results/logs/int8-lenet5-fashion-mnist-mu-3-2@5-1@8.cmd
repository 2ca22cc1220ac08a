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
   "3,2@5,1@8",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --update-bits 3,2@5,1@8 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-mu-3-2@5-1@8.jsonl",
 "date": "2026-11-23T09:35:06",
 "wall_seconds": 14.9
}