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
   "4,3@3,2@6",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet_niti train --data data/mnist --epochs 10 --seed 1 --update-bits 4,3@3,2@6 --quiet --log bench/accuracy/results/logs/int8-lenet_niti-mnist-mu-4-3@3-2@6.jsonl",
 "date": "2026-11-23T09:52:05",
 "wall_seconds": 45.0
}