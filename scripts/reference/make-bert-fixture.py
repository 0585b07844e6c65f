"""
Masked-LM logits of the shipped checkpoint computed by the independent PyTorch implementation in
torch_bert.py, written to test/fixtures/bert/mlm-reference.json. test/unit/checkpoint.test.ts loads the same
checkpoint with the TypeScript library and must agree.

  /usr/bin/python3 scripts/reference/make-bert-fixture.py [datasets/checkpoints/bert-tiny-peft]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_bert import Bert, read_safetensors  # noqa: E402

ckpt = sys.argv[1] if len(sys.argv) > 1 else "datasets/checkpoints/bert-tiny-peft"
cfg = json.load(open(os.path.join(ckpt, "config.json")))
vocab = [line.rstrip("\n") for line in open(os.path.join(ckpt, "vocab.txt"), encoding="utf-8")]
tok = {t: i for i, t in enumerate(vocab)}

model = Bert(cfg, mlm=True)
missing = model.load_hf(read_safetensors(os.path.join(ckpt, "model.safetensors")))
assert not missing, f"missing weights: {missing}"
model.eval()

# Two sequences of different lengths (the second padded), ids taken from the vocabulary by token.
words = [["[CLS]", "a", "[MASK]", "of", "the", "family", "[SEP]"], ["[CLS]", "free", "[MASK]", "[SEP]"]]
t = max(len(w) for w in words)
ids = torch.tensor([[tok.get(w, tok["[UNK]"]) for w in ws] + [0] * (t - len(ws)) for ws in words])
mask = torch.tensor([[1] * len(ws) + [0] * (t - len(ws)) for ws in words])
with torch.no_grad():
    logits = model.mlm_logits(model.encode(ids, mask))
keep = list(range(0, cfg["vocab_size"], 97))  # a strided subset of the vocabulary keeps the fixture small
out = {
    "checkpoint": ckpt,
    "input_ids": ids.tolist(),
    "attention_mask": mask.tolist(),
    "vocab_columns": keep,
    "logits": [[[round(float(logits[b, i, j]), 6) for j in keep] for i in range(len(words[b]))] for b in range(len(words))],
    "argmax": [[int(logits[b, i].argmax()) for i in range(len(words[b]))] for b in range(len(words))],
}
os.makedirs("test/fixtures/bert", exist_ok=True)
with open("test/fixtures/bert/mlm-reference.json", "w") as f:
    json.dump(out, f)
print("wrote test/fixtures/bert/mlm-reference.json;", "top predictions:", [[vocab[i] for i in row] for row in out["argmax"]])
