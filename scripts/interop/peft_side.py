"""
The Python half of test/e2e/interop.test.ts: Hugging Face peft / transformers / bitsandbytes on what the
TypeScript kit wrote, and adapters made by peft for the kit to read. Nothing is downloaded: every model and
tokenizer comes from local folders (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1 are set here too).

  .venv-interop/bin/python scripts/interop/peft_side.py WORKDIR

reads WORKDIR/request.json (written by the test) and writes WORKDIR/python-results.json (plus the peft
adapters it made, and MLM logits as raw float32 files). It checks nothing itself beyond collecting what a
user would see (warnings, load results, logits): the assertions live in the mocha test, so that a failure
is reported there with the numbers.

Sections (each optional in the request):
  kit_cases     PeftModel.from_pretrained(BertForSequenceClassification.from_pretrained(base), adapter):
                warnings, peft's load result, file keys that did not land in the model, logits, logits after
                merge_and_unload, and logits with one adapter tensor perturbed (negative control)
  peft_cases    get_peft_model on the kit's base checkpoint, a few AdamW steps on the kit's token ids,
                save_pretrained; logits before/after merge and with the adapters disabled
  checkpoint    BertForSequenceClassification.from_pretrained(kit's merged checkpoint): loading info + logits
  mlm           BertForMaskedLM.from_pretrained(shipped checkpoint): loading info, logits as float32 file
  tokenizer     BertTokenizerFast.from_pretrained(shipped checkpoint) ids of every text
  quant         bitsandbytes.functional.quantize_4bit / dequantize_4bit (CPU) on a checkpoint weight
"""
import contextlib
import io
import json
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("INTEROP_THREADS", "1")))

import peft  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, VBLoRAConfig, WaveFTConfig, get_peft_model  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertForMaskedLM, BertForSequenceClassification, BertTokenizerFast  # noqa: E402

transformers.logging.set_verbosity_warning()


class Capture:
    """Collects Python warnings and log records (transformers, peft) emitted inside the block."""

    def __init__(self):
        self.messages = []

    def __enter__(self):
        self._warn = warnings.catch_warnings(record=True)
        self._records = self._warn.__enter__()
        warnings.simplefilter("always")
        self._handler = logging.Handler()
        self._handler.emit = lambda rec: self.messages.append(f"log {rec.name} {rec.levelname}: {rec.getMessage()}")
        self._loggers = [logging.getLogger(n) for n in ("transformers", "peft", "")]
        for lg in self._loggers:
            lg.addHandler(self._handler)
        self._stderr = contextlib.redirect_stderr(io.StringIO())
        self._err = self._stderr.__enter__()
        return self

    def __exit__(self, *exc):
        self._stderr.__exit__(*exc)
        for lg in self._loggers:
            lg.removeHandler(self._handler)
        self._warn.__exit__(*exc)
        self.messages += [f"warning {w.category.__name__}: {w.message}" for w in self._records]
        err = self._err.getvalue().strip()
        if err:
            self.messages.append(f"stderr: {err}")
        return False


def tensors(batch):
    return torch.tensor(batch["input_ids"], dtype=torch.long), torch.tensor(batch["attention_mask"], dtype=torch.long)


@torch.no_grad()
def logits_of(model, batch):
    model.eval()
    ids, mask = tensors(batch)
    return model(input_ids=ids, attention_mask=mask).logits.float()


def record_load_adapter():
    """Wraps PeftModel.load_adapter to keep the load result that PeftModel.from_pretrained does not return."""
    results = []
    original = PeftModel.load_adapter

    def wrapped(self, *args, **kwargs):
        r = original(self, *args, **kwargs)
        results.append(r)
        return r

    PeftModel.load_adapter = wrapped
    return results, lambda: setattr(PeftModel, "load_adapter", original)


def base_model(path, num_labels, seed=0):
    torch.manual_seed(seed)
    return BertForSequenceClassification.from_pretrained(path, num_labels=num_labels)


def first_tensor_named(model, part):
    for name, p in model.named_parameters():
        if part in name:
            return name, p
    raise KeyError(part)


def kit_case(case, req):
    """Loads one adapter the kit saved, exactly as a user would."""
    out = {}
    with Capture() as base_log:
        model = base_model(case["base_dir"], req["num_labels"])
    out["base_messages"] = base_log.messages
    results, restore = record_load_adapter()
    try:
        with Capture() as log:
            model = PeftModel.from_pretrained(model, case["adapter_dir"])
    finally:
        restore()
    out["messages"] = log.messages
    lr = results[0]
    # As PeftModel.from_pretrained does before it warns: VB-LoRA's per-layer "vblora_vector_bank" entries are
    # references to the one shared bank (base_model.vblora_vector_bank), never stored per layer.
    out["missing_keys"] = [k for k in lr.missing_keys if "vblora_vector_bank" not in k or k.startswith("base_model.vblora_vector_bank")]
    out["shared_keys_not_stored"] = len(lr.missing_keys) - len(out["missing_keys"])
    out["unexpected_keys"] = list(lr.unexpected_keys)
    # Independent of peft's own bookkeeping: every tensor of the file is in the model's adapter state dict
    # with the same value (top-k VB-LoRA files are compared through the model, see below).
    file_sd = load_file(os.path.join(case["adapter_dir"], "adapter_model.safetensors"))
    model_sd = get_peft_model_state_dict(model)
    cfg = model.peft_config["default"]
    out["peft_config"] = {k: (v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v)) for k, v in cfg.to_dict().items()}
    out["peft_class"] = type(model).__name__
    not_loaded, value_diff = [], 0.0
    topk_file = any(k.endswith("_topk_indices") for k in file_sd)
    for k, v in file_sd.items():
        if topk_file and ("_topk_" in k):
            continue
        if k not in model_sd:
            not_loaded.append(k)
        else:
            value_diff = max(value_diff, (model_sd[k].float() - v.float()).abs().max().item())
    out["file_keys_not_in_model"] = not_loaded
    out["file_value_max_diff"] = value_diff
    out["model_keys_not_in_file"] = [k for k in model_sd if k not in file_sd and not topk_file]
    out["logits"] = logits_of(model, req["eval"]).tolist()
    # negative control: one adapter tensor moved a little
    part = case.get("perturb", "lora_B")
    name, p = first_tensor_named(model, part)
    with torch.no_grad():
        saved = p.detach().clone()
        p.add_(case.get("perturb_by", 1e-2))
        out["perturbed"] = {"tensor": name, "by": case.get("perturb_by", 1e-2), "logits": logits_of(model, req["eval"]).tolist()}
        p.copy_(saved)
    with Capture() as merge_log:
        merged = model.merge_and_unload()
    out["merge_messages"] = merge_log.messages
    out["merged_class"] = type(merged).__name__
    out["merged_logits"] = logits_of(merged, req["eval"]).tolist()
    return out


PEFT_CONFIGS = {
    "LoRA": lambda c: LoraConfig(r=8, lora_alpha=16, **c),
    "rsLoRA": lambda c: LoraConfig(r=8, lora_alpha=16, use_rslora=True, **c),
    "DoRA": lambda c: LoraConfig(r=8, lora_alpha=16, use_dora=True, **c),
    "VB-LoRA": lambda c: VBLoRAConfig(r=4, num_vectors=64, vector_length=64, topk=2, **c),
    "WaveFT": lambda c: WaveFTConfig(n_frequency=2048, scaling=25.0, wavelet_family="db1", **c),
}
PEFT_LR = {"LoRA": 1e-2, "rsLoRA": 1e-2, "DoRA": 1e-2, "VB-LoRA": 2e-2, "WaveFT": 2e-3}


def peft_case(case, req):
    """A peft adapter trained a few AdamW steps on the kit's token ids, saved with save_pretrained."""
    method = case["method"]
    model = base_model(req["shipped"], req["num_labels"], seed=case.get("seed", 1))
    common = dict(target_modules=req["target_regex"], modules_to_save=req["modules_to_save"], task_type="SEQ_CLS")
    if method == "VB-LoRA":
        common["save_only_topk_weights"] = bool(case.get("topk_save", False))
    torch.manual_seed(case.get("seed", 1))
    model = get_peft_model(model, PEFT_CONFIGS[method](common))
    model.eval()  # dropout off; the weights still train
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=PEFT_LR[method])
    ids, mask = tensors(req["train"])
    labels = torch.tensor(req["train"]["labels"], dtype=torch.long)
    losses = []
    for _ in range(req.get("steps", 4)):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with Capture() as log:
        model.save_pretrained(case["out_dir"])
    out = {"losses": losses, "messages": log.messages, "logits": logits_of(model, req["eval"]).tolist()}
    with model.disable_adapter():
        out["disabled_logits"] = logits_of(model, req["eval"]).tolist()
    out["merged_logits"] = logits_of(model.merge_and_unload(), req["eval"]).tolist()
    return out


def checkpoint_section(sec, req):
    with Capture() as log:
        model, info = BertForSequenceClassification.from_pretrained(sec["dir"], output_loading_info=True)
    return {"messages": log.messages, "loading_info": {k: sorted(map(str, v)) for k, v in info.items()},
            "num_labels": model.config.num_labels, "logits": logits_of(model, req["eval"]).tolist()}


def mlm_section(sec, req):
    with Capture() as log:
        model, info = BertForMaskedLM.from_pretrained(req["shipped"], output_loading_info=True)
    batch = {k: req["eval"][k][: sec["rows"]] for k in ("input_ids", "attention_mask")}
    logits = logits_of(model, batch).numpy().astype("<f4")
    logits.tofile(sec["out_file"])
    return {"messages": log.messages, "loading_info": {k: sorted(map(str, v)) for k, v in info.items()}, "shape": list(logits.shape)}


def tokenizer_section(sec, req):
    with open(sec["texts_file"], encoding="utf8") as f:
        texts = json.load(f)
    with Capture() as log:
        tok = BertTokenizerFast.from_pretrained(req["shipped"])
        enc = tok(texts, add_special_tokens=True, truncation=False, padding=False)
    return {"class": type(tok).__name__, "messages": log.messages, "input_ids": enc["input_ids"],
            "truncated_64": tok(texts, truncation=True, max_length=64)["input_ids"]}


def quant_section(sec, req):
    import bitsandbytes as bnb
    import bitsandbytes.functional as F

    w = load_file(os.path.join(req["shipped"], "model.safetensors"))[sec["weight_key"]].float().contiguous()
    out = {"bitsandbytes": bnb.__version__, "weight_key": sec["weight_key"], "cases": []}
    for flat_len in sec.get("lengths", [None]):
        x = w if flat_len is None else w.flatten()[:flat_len].contiguous()
        for qt in ("nf4", "fp4"):
            for cs in (False, True):
                case = {"quant_type": qt, "compress_statistics": cs, "n": x.numel(), "blocksize": 64}
                try:
                    packed, st = F.quantize_4bit(x, blocksize=64, quant_type=qt, compress_statistics=cs)
                    deq = F.dequantize_4bit(packed, st)
                    case["packed"] = packed.flatten().tolist()
                    case["dequantized"] = deq.flatten().tolist()
                    case["code"] = st.code.tolist()
                    if cs:
                        case["offset"] = float(st.offset)
                        case["absmax_codes"] = st.absmax.flatten().tolist()  # uint8 codes of (absmax - offset)
                        case["absmax2"] = st.state2.absmax.flatten().tolist()
                        case["absmax2_blocksize"] = st.state2.blocksize
                        case["absmax2_code"] = st.state2.code.tolist()  # the 8-bit dynamic map
                        case["absmax_restored"] = (F.dequantize_blockwise(st.absmax, st.state2) + st.offset).flatten().tolist()
                    else:
                        case["absmax"] = st.absmax.flatten().tolist()
                except Exception as e:  # a CPU path bitsandbytes lacks: say so
                    case["error"] = f"{type(e).__name__}: {e}"
                out["cases"].append(case)
    return out


def main():
    work = sys.argv[1]
    with open(os.path.join(work, "request.json"), encoding="utf8") as f:
        req = json.load(f)
    import bitsandbytes

    res = {"versions": {"peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
                        "bitsandbytes": bitsandbytes.__version__}, "timings": {}}

    def timed(key, fn):
        t0 = time.time()
        v = fn()
        res["timings"][key] = round(time.time() - t0, 2)
        return v

    if "kit_cases" in req:
        res["kit_cases"] = {c["name"]: timed(f"kit:{c['name']}", lambda c=c: kit_case(c, req)) for c in req["kit_cases"]}
    if "peft_cases" in req:
        res["peft_cases"] = {c["name"]: timed(f"peft:{c['name']}", lambda c=c: peft_case(c, req)) for c in req["peft_cases"]}
    for key, fn in (("checkpoint", checkpoint_section), ("mlm", mlm_section), ("tokenizer", tokenizer_section), ("quant", quant_section)):
        if key in req:
            res[key] = timed(key, lambda fn=fn, key=key: fn(req[key], req))
    with open(os.path.join(work, "python-results.json"), "w", encoding="utf8") as f:
        json.dump(res, f)
    print(json.dumps(res["timings"]))


if __name__ == "__main__":
    main()
