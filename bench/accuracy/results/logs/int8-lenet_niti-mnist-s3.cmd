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
   "3",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet_niti train --data data/mnist --epochs 10 --seed 3 --quiet --log bench/accuracy/results/logs/int8-lenet_niti-mnist-s3.jsonl",
 "date": "2026-11-23T09:33:43",
 "wall_seconds": 45.9
}