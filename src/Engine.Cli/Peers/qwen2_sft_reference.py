#!/usr/bin/env python3
"""Parity reference for `engine sft`: N full-batch SFT steps of a Hugging Face Qwen2 in PyTorch float32, printing the
loss, gradient norm and learning rate of every step as JSON, and optionally comparing them with an engine run's
metrics.jsonl. Run it where the engine's run is checked (the GPU machine: torch and transformers there).

  qwen2_sft_reference.py make-model --out DIR [--hidden 896 --intermediate 4864 --layers 24 --heads 14 --kv-heads 2
                             --vocab 151936] [--untied] [--seed 0]
  qwen2_sft_reference.py make-data --out rows.jsonl --vocab V [--rows 16] [--min-len 64] [--max-len 512]
                             [--distinct 512] [--seed 0]
  qwen2_sft_reference.py run --model DIR --data rows.jsonl [--steps 10] [engine sft's optimizer options]
                             [--seq-len 2048] [--device cuda|cpu] [--impl auto|transformers|plain]
                             [--compare OUT/metrics.jsonl] [--tolerance 0.01]

What makes the two runs comparable:
- Data: pre-tokenized rows, {"input_ids": [...], "labels": [...]?} (labels absent = every token; -100 = no loss),
  the rows `engine sft --data` reads as they are, or the output of `engine tokenize --json` ("ids", "labels"),
  which is exactly what the engine trains on for text rows. Rows longer than --seq-len are cut to it, as the engine
  cuts them.
- Every step trains on every row, so no data order has to be reproduced: run the engine with a global batch that
  holds all rows, e.g. `engine sft --packing none --batch-size ROWS --grad-accum 1 --max-steps N` (any packing gives
  the same losses: packed documents attend only to themselves and restart their positions).
- The step is the engine's: the loss of step k is sum over rows of the token losses (token t scored against label
  t+1, -100 ignored) over the number of scored tokens, computed before update k; the gradient norm is the global
  L2 norm before clipping; clipping is torch.nn.utils.clip_grad_norm_ (max_norm / (norm + 1e-6) when below 1);
  AdamW is torch.optim.AdamW with weight decay on matrices only (HF Trainer's rule for Qwen2: biases and norm
  weights not decayed); the learning rate follows transformers' schedules as the engine evaluates them
  (constant, constant_with_warmup, cosine; warmup steps ceil(ratio x steps)). The defaults are engine sft's.
- Numerics: float32 weights, activations and optimizer state; TF32 off, so matrix products are true fp32.
  --impl auto uses transformers' Qwen2ForCausalLM (SDPA attention) and falls back, on a CPU without transformers,
  to the plain-torch Qwen2 of qwen2_sft_peer.py beside this file (for testing the script itself).

make-model writes a random Qwen2 (default: Qwen2.5-0.5B's shape) as an HF directory, bf16 like a released
checkpoint (transformers' init: normal(0, 0.02) matrices and embeddings, zero biases, unit norms), for machines
that cannot download one. make-data writes random rows whose tokens follow a Zipf law over --distinct ids, so
that the loss falls quickly from ln(vocab) and a 1% bound on the losses means something.

With --compare, the output adds the largest relative loss difference |engine - reference| / |reference| over the
steps both logged, and the script exits 1 when it is above --tolerance (the issue's bound is 1%) or the engine's
log is missing or shares no step (the reference's own losses are printed either way).
"""
import argparse
import json
import math
import os
import random
import struct
import sys

IGNORE = -100


def fail(message):
    print(f"qwen2_sft_reference.py: {message}", file=sys.stderr)
    sys.exit(2)


def make_data(args):
    """Random pre-tokenized rows: the first quarter of each row is a prompt without loss, the rest is trained."""
    rng = random.Random(args.seed)
    vocabulary = rng.sample(range(args.vocab), min(args.distinct, args.vocab))
    cumulative, total = [], 0.0
    for k in range(len(vocabulary)):
        total += 1.0 / (k + 1)
        cumulative.append(total)
    with open(args.out, "w") as f:
        for _ in range(args.rows):
            n = rng.randint(args.min_len, args.max_len)
            ids = rng.choices(vocabulary, cum_weights=cumulative, k=n)
            prompt = n // 4
            f.write(json.dumps({"input_ids": ids, "labels": [IGNORE] * prompt + ids[prompt:]}) + "\n")


def make_model(args):
    """A random Qwen2 as config.json + model.safetensors (bf16, HF tensor names; lm_head only when untied)."""
    import torch
    torch.manual_seed(args.seed)
    C, I, V, H, KV = args.hidden, args.intermediate, args.vocab, args.heads, args.kv_heads
    if C % H or H % KV or (C // H) % 2:
        fail("make-model needs heads dividing hidden (into an even head_dim) and kv-heads dividing heads")
    D = C // H
    shapes = [("model.embed_tokens.weight", (V, C))]
    for l in range(args.layers):
        p = f"model.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (C,)),
                   (p + "self_attn.q_proj.weight", (H * D, C)), (p + "self_attn.q_proj.bias", (H * D,)),
                   (p + "self_attn.k_proj.weight", (KV * D, C)), (p + "self_attn.k_proj.bias", (KV * D,)),
                   (p + "self_attn.v_proj.weight", (KV * D, C)), (p + "self_attn.v_proj.bias", (KV * D,)),
                   (p + "self_attn.o_proj.weight", (C, H * D)), (p + "post_attention_layernorm.weight", (C,)),
                   (p + "mlp.gate_proj.weight", (I, C)), (p + "mlp.up_proj.weight", (I, C)), (p + "mlp.down_proj.weight", (C, I))]
    shapes.append(("model.norm.weight", (C,)))
    if args.untied:
        shapes.append(("lm_head.weight", (V, C)))
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in shapes:
        if name.endswith("norm.weight"):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            t = torch.randn(shape) * 0.02
        blob = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        header[name] = dict(dtype="BF16", shape=list(shape), data_offsets=[offset, offset + len(blob)])
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    config = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=V, hidden_size=C, intermediate_size=I,
                  num_hidden_layers=args.layers, num_attention_heads=H, num_key_value_heads=KV, tie_word_embeddings=not args.untied,
                  rms_norm_eps=1e-6, rope_theta=1000000.0, max_position_embeddings=32768, hidden_act="silu", torch_dtype="bfloat16",
                  use_cache=False)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def read_rows(path, seq_len):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{number}: not JSON ({e.msg})")
            ids = row.get("input_ids", row.get("ids"))
            if not isinstance(ids, list) or not ids:
                fail(f"{path}:{number}: no 'input_ids' (or 'ids' from engine tokenize --json): run text rows through engine tokenize --json first")
            labels = row.get("labels") or list(ids)
            if len(labels) != len(ids):
                fail(f"{path}:{number}: {len(labels)} labels for {len(ids)} ids")
            rows.append((ids[:seq_len], labels[:seq_len]))
    if not rows:
        fail(f"{path}: no rows")
    return rows


def learning_rate(args, step):
    """transformers' LambdaLR schedules at step - 1, as the engine evaluates them (SftOptions.LearningRate)."""
    s, warmup = step - 1, math.ceil(args.warmup_ratio * args.steps)
    if args.lr_schedule == "constant":
        return args.lr
    if s < warmup:
        return args.lr * s / max(1, warmup)
    if args.lr_schedule == "constant_with_warmup":
        return args.lr
    progress = (s - warmup) / max(1, args.steps - warmup)
    return args.lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def read_safetensors(model_dir, torch):
    """Every tensor of the model's *.safetensors files as float32 (bf16 and f16 widened exactly)."""
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if not files:
        fail(f"{model_dir}: no *.safetensors file")
    tensors = {}
    for name in files:
        with open(os.path.join(model_dir, name), "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
            data = f.read()
        for key, e in header.items():
            if key == "__metadata__":
                continue
            begin, end = e["data_offsets"]
            raw = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.uint8)
            if e["dtype"] == "F32":
                t = raw.view(torch.float32)
            elif e["dtype"] == "BF16":
                t = (raw.view(torch.int16).to(torch.int32) << 16).view(torch.float32)
            elif e["dtype"] == "F16":
                t = raw.view(torch.float16).float()
            else:
                fail(f"{name}: tensor {key} has dtype {e['dtype']} (F32, BF16 or F16 expected)")
            tensors[key] = t.reshape(e["shape"])
    return tensors


def load_model(args, torch, device):
    """(model, description, transformers version or None), float32, in training mode."""
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        fail(f"{args.model}: no config.json (an HF model directory is expected)")
    use_transformers = args.impl == "transformers"
    if args.impl == "auto":
        try:
            import transformers  # noqa: F401
            use_transformers = True
        except ImportError:
            if device.type == "cuda":
                fail("transformers is not installed (pip install transformers), and the plain Qwen2 runs on the CPU only")
    if use_transformers:
        import transformers
        from transformers import Qwen2ForCausalLM
        model = Qwen2ForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa").to(device)
        model.config.use_cache = False
        return model.train(), "transformers Qwen2ForCausalLM (sdpa attention)", transformers.__version__
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from qwen2_sft_peer import PlainQwen2
    with open(os.path.join(args.model, "config.json")) as f:
        c = json.load(f)
    cfg = dict(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
               num_layers=c["num_hidden_layers"], num_heads=c["num_attention_heads"], num_kv_heads=c["num_key_value_heads"],
               tie_word_embeddings=c.get("tie_word_embeddings", False), rms_norm_eps=c.get("rms_norm_eps", 1e-6),
               rope_theta=c.get("rope_theta", 10000.0))
    model = PlainQwen2(cfg)
    state = read_safetensors(args.model, torch)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in state:
                fail(f"{args.model}: tensor {name} is missing")
            p.copy_(state[name])
    return model.train(), "plain torch Qwen2 (qwen2_sft_peer.py)", None


def run(args):
    import torch
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        fail("torch sees no CUDA device (use --device cpu)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = read_rows(args.data, args.seq_len)
    # Token t is scored against label t+1 of its own row.
    scored = sum(sum(1 for l in labels[1:] if l != IGNORE) for _, labels in rows)
    if scored == 0:
        fail(f"{args.data}: no row has a label token after its first position")
    model, description, transformers_version = load_model(args, torch, device)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [dict(params=[p for p in params if p.dim() >= 2], weight_decay=args.weight_decay),
              dict(params=[p for p in params if p.dim() < 2], weight_decay=0.0)]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_eps)
    batches = [(torch.tensor([ids], device=device), torch.tensor(labels[1:], device=device)) for ids, labels in rows]
    steps = []
    for step in range(1, args.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for ids, targets in batches:
            logits = model(input_ids=ids).logits[0, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum") / scored
            loss.backward()
            total += loss.item()
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.double()) for g in grads])).item()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        lr = learning_rate(args, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        steps.append(dict(step=step, loss=total, grad_norm=norm, lr=lr))
    report = dict(torch=torch.__version__, transformers=transformers_version, model=description, device=str(device),
                  dtype="float32", rows=len(rows), scored_tokens=scored, steps=steps)
    ok = True
    if args.compare:
        report["comparison"] = compare(args.compare, steps, args.tolerance)
        ok = report["comparison"]["within_tolerance"]
    print(json.dumps(report))
    sys.exit(0 if ok else 1)


def compare(metrics_path, steps, tolerance):
    engine = {}
    if not os.path.isfile(metrics_path):
        # The reference's own losses are still worth printing (and keeping) when the engine run failed.
        return dict(engine_log=metrics_path, error="no such file (did the engine run finish?)", within_tolerance=False)
    with open(metrics_path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    m = json.loads(line)
                except json.JSONDecodeError as e:
                    fail(f"{metrics_path}:{number}: not JSON ({e.msg})")
                if m.get("loss") is not None:
                    engine[m["step"]] = m["loss"]
    pairs = [(s["step"], engine[s["step"]], s["loss"]) for s in steps if s["step"] in engine]
    if not pairs:
        return dict(engine_log=metrics_path, error=f"no step in common with the reference's {len(steps)}", within_tolerance=False)
    worst = max(pairs, key=lambda p: abs(p[1] - p[2]) / abs(p[2]))
    worst_rel = abs(worst[1] - worst[2]) / abs(worst[2])
    return dict(engine_log=metrics_path, steps_compared=len(pairs), max_relative_difference=worst_rel, worst_step=worst[0],
                engine_loss=worst[1], reference_loss=worst[2], tolerance=tolerance, within_tolerance=worst_rel <= tolerance,
                per_step=[dict(step=s, engine=e, reference=r) for s, e, r in pairs])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-data", help="write random pre-tokenized rows")
    m.add_argument("--out", required=True)
    m.add_argument("--vocab", type=int, required=True)
    m.add_argument("--rows", type=int, default=16)
    m.add_argument("--min-len", type=int, default=64)
    m.add_argument("--max-len", type=int, default=512)
    m.add_argument("--distinct", type=int, default=512, help="how many different token ids the rows use (Zipf-distributed)")
    m.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("make-model", help="write a random bf16 Qwen2 HF directory")
    g.add_argument("--out", required=True)
    g.add_argument("--hidden", type=int, default=896)
    g.add_argument("--intermediate", type=int, default=4864)
    g.add_argument("--layers", type=int, default=24)
    g.add_argument("--heads", type=int, default=14)
    g.add_argument("--kv-heads", type=int, default=2)
    g.add_argument("--vocab", type=int, default=151936)
    g.add_argument("--untied", action="store_true")
    g.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="N full-batch float32 SFT steps; per-step losses as JSON")
    r.add_argument("--model", required=True, help="HF model directory (config.json, *.safetensors)")
    r.add_argument("--data", required=True, help="pre-tokenized JSONL (input_ids/labels, or engine tokenize --json output)")
    r.add_argument("--steps", type=int, default=10)
    r.add_argument("--lr", type=float, default=1e-5)
    r.add_argument("--lr-schedule", choices=["constant", "constant_with_warmup", "cosine"], default="cosine")
    r.add_argument("--warmup-ratio", type=float, default=0.0)
    r.add_argument("--adam-beta1", type=float, default=0.9)
    r.add_argument("--adam-beta2", type=float, default=0.999)
    r.add_argument("--adam-eps", type=float, default=1e-8)
    r.add_argument("--weight-decay", type=float, default=0.0)
    r.add_argument("--max-grad-norm", type=float, default=1.0, help="0 = no clipping")
    r.add_argument("--seq-len", type=int, default=2048)
    r.add_argument("--device", default="cuda")
    r.add_argument("--impl", choices=["auto", "transformers", "plain"], default="auto")
    r.add_argument("--compare", help="an engine run's metrics.jsonl")
    r.add_argument("--tolerance", type=float, default=0.01, help="largest relative loss difference accepted by --compare")
    args = parser.parse_args()
    if args.command == "make-data":
        if args.rows < 1 or args.vocab < 1 or args.distinct < 1 or not 2 <= args.min_len <= args.max_len:
            fail("make-data needs --rows, --vocab, --distinct >= 1 and 2 <= --min-len <= --max-len")
        make_data(args)
    elif args.command == "make-model":
        if min(args.hidden, args.intermediate, args.layers, args.heads, args.kv_heads, args.vocab) < 1:
            fail("make-model needs every size >= 1")
        make_model(args)
    else:
        if args.steps < 1 or args.seq_len < 2:
            fail("run needs --steps >= 1 and --seq-len >= 2")
        run(args)


if __name__ == "__main__":
    main()
