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
   "1",
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/mnist --epochs 10 --seed 1 --quiet --log bench/accuracy/results/logs/int8-lenet5-mnist.jsonl",
 "date": "2026-11-23T09:09:45",
 "wall_seconds": 16.3
}