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
   "3",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/mnist --epochs 10 --seed 3 --quiet --log bench/accuracy/results/logs/int8-lenet5-mnist-s3.jsonl",
 "date": "2026-11-23T09:33:58",
 "wall_seconds": 15.2
}