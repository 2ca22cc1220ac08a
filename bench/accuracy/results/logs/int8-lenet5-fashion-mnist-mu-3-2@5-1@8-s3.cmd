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
   "--update-bits",
   "3,2@5,1@8",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 3 --update-bits 3,2@5,1@8 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist-mu-3-2@5-1@8-s3.jsonl",
 "date": "2026-11-23T09:36:56",
 "wall_seconds": 15.9
}