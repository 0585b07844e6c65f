"""
An independent PyTorch implementation of Hugging Face's BERT (modeling_bert.py, eager attention), written
from the transformers source semantics, with a tiny safetensors reader of its own (struct + json + numpy).
It shares no code with the TypeScript library, so agreement between the two is evidence both are right.

Used by:
  scripts/reference/make-bert-fixture.py   masked-LM logits of the shipped checkpoint (test fixture)
  bench/train_step_torch.py                 the PyTorch side of the training-step benchmark

Debian: apt-get install python3-torch python3-numpy libopenblas0-pthread; run with /usr/bin/python3.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32).copy())
    return out


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Bert(nn.Module):
    """BertForMaskedLM / BertForSequenceClassification in one: encoder, optional MLM head, optional classifier."""

    def __init__(self, cfg, num_labels=0, mlm=True):
        super().__init__()
        d, v, i = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
        self.cfg, self.heads, self.eps = cfg, cfg["num_attention_heads"], cfg["layer_norm_eps"]
        self.word = nn.Embedding(v, d)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], d)
        self.typ = nn.Embedding(cfg["type_vocab_size"], d)
        self.emb_ln = nn.LayerNorm(d, eps=self.eps)
        self.layers = nn.ModuleList()
        for _ in range(cfg["num_hidden_layers"]):
            self.layers.append(nn.ModuleDict({
                "query": nn.Linear(d, d), "key": nn.Linear(d, d), "value": nn.Linear(d, d),
                "attn_out": nn.Linear(d, d), "attn_ln": nn.LayerNorm(d, eps=self.eps),
                "inter": nn.Linear(d, i), "out": nn.Linear(i, d), "out_ln": nn.LayerNorm(d, eps=self.eps),
            }))
        self.mlm = mlm
        if mlm:
            self.tr_dense, self.tr_ln = nn.Linear(d, d), nn.LayerNorm(d, eps=self.eps)
            self.mlm_bias = nn.Parameter(torch.zeros(v))
        self.num_labels = num_labels
        if num_labels:
            self.pooler, self.classifier = nn.Linear(d, d), nn.Linear(d, num_labels)

    def hf_names(self):
        """Our parameter → its Hugging Face name."""
        names = {"word.weight": "bert.embeddings.word_embeddings.weight", "pos.weight": "bert.embeddings.position_embeddings.weight",
                 "typ.weight": "bert.embeddings.token_type_embeddings.weight", "emb_ln.weight": "bert.embeddings.LayerNorm.weight",
                 "emb_ln.bias": "bert.embeddings.LayerNorm.bias"}
        parts = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
                 "attn_out": "attention.output.dense", "attn_ln": "attention.output.LayerNorm", "inter": "intermediate.dense",
                 "out": "output.dense", "out_ln": "output.LayerNorm"}
        for li in range(len(self.layers)):
            for ours, theirs in parts.items():
                for p in ("weight", "bias"):
                    names[f"layers.{li}.{ours}.{p}"] = f"bert.encoder.layer.{li}.{theirs}.{p}"
        if self.mlm:
            names.update({"tr_dense.weight": "cls.predictions.transform.dense.weight", "tr_dense.bias": "cls.predictions.transform.dense.bias",
                          "tr_ln.weight": "cls.predictions.transform.LayerNorm.weight", "tr_ln.bias": "cls.predictions.transform.LayerNorm.bias",
                          "mlm_bias": "cls.predictions.bias"})
        if self.num_labels:
            names.update({"pooler.weight": "bert.pooler.dense.weight", "pooler.bias": "bert.pooler.dense.bias",
                          "classifier.weight": "classifier.weight", "classifier.bias": "classifier.bias"})
        return names

    def load_hf(self, tensors):
        state = {ours: tensors[theirs] for ours, theirs in self.hf_names().items() if theirs in tensors}
        missing = set(self.state_dict()) - set(state)
        self.load_state_dict(state, strict=False)
        return sorted(missing)

    def encode(self, ids, mask):
        b, t = ids.shape
        h = self.word(ids) + self.pos(torch.arange(t)) + self.typ(torch.zeros_like(ids))
        h = F.dropout(self.emb_ln(h), self.cfg["hidden_dropout_prob"], self.training)
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        dh = h.shape[-1] // self.heads
        for L in self.layers:
            split = lambda x: x.view(b, t, self.heads, dh).transpose(1, 2)
            q, k, v = split(L["query"](h)), split(L["key"](h)), split(L["value"](h))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1)
            probs = F.dropout(probs, self.cfg["attention_probs_dropout_prob"], self.training)
            ctx = (probs @ v).transpose(1, 2).reshape(b, t, -1)
            a = L["attn_ln"](F.dropout(L["attn_out"](ctx), self.cfg["hidden_dropout_prob"], self.training) + h)
            m = L["out"](gelu(L["inter"](a)))
            h = L["out_ln"](F.dropout(m, self.cfg["hidden_dropout_prob"], self.training) + a)
        return h

    def mlm_logits(self, h):
        return self.tr_ln(gelu(self.tr_dense(h))) @ self.word.weight.T + self.mlm_bias

    def class_logits(self, h):
        pooled = torch.tanh(self.pooler(h[:, 0]))
        return self.classifier(F.dropout(pooled, self.cfg["hidden_dropout_prob"], self.training))
