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
   "--quiet"
  ]
 },
 "cmd": "bench/accuracy/results/bin/lenet5 train --data data/fashion-mnist --epochs 10 --seed 1 --quiet --log bench/accuracy/results/logs/int8-lenet5-fashion-mnist.jsonl",
 "date": "2026-11-23T08:45:00",
 "note": "run by hand with an identical binary before the script existed"
}