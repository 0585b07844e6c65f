"""
PyTorch side of bench/train-step.ts: times the fine-tuning step (forward + backward + AdamW, grad clipping)
of the same BERT architecture and shapes, using the independent implementation in
scripts/reference/torch_bert.py, for each method asked:

  full  every weight trains
  lora  LoRA r = 8, alpha = 16, no dropout on every encoder linear (query, key, value, attention output,
        intermediate, output), the head (pooler + classifier) trains, everything else is frozen: what
        peft's get_peft_model does with the kit's preset (lib/experiments/methods.ts)

Methods are interleaved step by step so that machine noise hits them alike. Prints one JSON line.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_step_torch.py CONFIG.json BATCH SEQ THREADS STEPS [METHODS]
"""
import json
import math
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "reference"))
from torch_bert import Bert  # noqa: E402

ENCODER_LINEARS = ("query", "key", "value", "attn_out", "inter", "out")


class LoraLinear(nn.Module):
    """peft's LoRA Linear with dropout 0: base(x) + (x Aᵀ Bᵀ) · alpha / r, base frozen."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        # B starts at zero in peft; a small random B makes the step's work the same as after the first update.
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r) * 0.01)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T) @ self.lora_B.T * self.scaling


def build(cfg, method):
    model = Bert(cfg, num_labels=2, mlm=False)
    if method == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layers:
            for name in ENCODER_LINEARS:
                layer[name] = LoraLinear(layer[name], 8, 16)
        for p in list(model.pooler.parameters()) + list(model.classifier.parameters()):
            p.requires_grad_(True)
    elif method != "full":
        raise SystemExit(f"unknown method {method!r}: full or lora")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    return model, params, torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)


def main():
    cfg_path, batch, seq, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    methods = (sys.argv[6] if len(sys.argv) > 6 else "full").split(",")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = json.load(open(cfg_path))
    ids = torch.randint(5, cfg["vocab_size"], (batch, seq))
    mask = torch.ones(batch, seq, dtype=torch.long)
    labels = torch.randint(0, 2, (batch,))
    runs = {}
    for method in methods:
        model, params, opt = build(cfg, method)

        def step(model=model, params=params, opt=opt):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.class_logits(model.encode(ids, mask)), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        for _ in range(3):
            step()
        runs[method] = (step, [])
    for _ in range(steps):
        for method, (step, times) in runs.items():
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    out = {"threads": threads, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "torch": torch.__version__}
    for method, (_, times) in runs.items():
        times.sort()
        out[method] = {"median_ms": 1000 * times[len(times) // 2], "min_ms": 1000 * times[0], "steps": len(times)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
