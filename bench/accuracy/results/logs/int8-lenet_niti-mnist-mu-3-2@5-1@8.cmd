{
 "key": {
  "model": "fd9f9c30f6ec1d05",
  "args": [
   "train",
   "--data",
   "data/mnist",
   "--epochs",
   "10",
   "--seed",
   "1",
   "--update-bits",
   "3,2@5,1@8",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet_niti train --data data/mnist --epochs 10 --seed 1 --update-bits 3,2@5,1@8 --quiet --log bench/accuracy/results/logs/int8-lenet_niti-mnist-mu-3-2@5-1@8.jsonl",
 "date": "2026-11-23T09:51:18",
 "wall_seconds": 44.9
}