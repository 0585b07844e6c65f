"""
PyTorch side of bench/train-step.ts: times one fine-tuning step (forward + backward + AdamW, grad clipping)
of the same BERT architecture and shapes, using the independent implementation in
scripts/reference/torch_bert.py. Prints one JSON line.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_step_torch.py CONFIG.json BATCH SEQ THREADS STEPS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "reference"))
from torch_bert import Bert  # noqa: E402

cfg_path, batch, seq, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = json.load(open(cfg_path))
model = Bert(cfg, num_labels=2, mlm=False)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
ids = torch.randint(5, cfg["vocab_size"], (batch, seq))
mask = torch.ones(batch, seq, dtype=torch.long)
labels = torch.randint(0, 2, (batch,))


def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model.class_logits(model.encode(ids, mask)), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


for _ in range(3):
    step()
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"median_ms": 1000 * times[len(times) // 2], "min_ms": 1000 * times[0], "threads": threads,
                  "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "torch": torch.__version__}))
