#!/usr/bin/env python3
"""The PyTorch peer of `engine bench sft --device cuda`: the standard mixed-precision training step of a Qwen2 of
the given shape on one GPU, the setup the engine's CUDA trainer is measured against.

  qwen2_sft_cuda_peer.py HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB DOCS DOC_LEN THREADS REPEAT [DEVICE]

The same arguments as qwen2_sft_peer.py (THREADS sets torch's CPU threads), plus DEVICE (default cuda).
The step is what transformers' Trainer runs with bf16=True: transformers' Qwen2ForCausalLM with SDPA attention,
fp32 weights (the master copy) under torch.autocast(bfloat16), so matrix products and attention run in bf16 with
fp32 accumulation, then torch.optim.AdamW(fused=True) on the fp32 weights and fp32 moments. That is the numerics
of the engine's trainer (bf16 compute, fp32 master weights and moments). Gradient clipping is left out (the engine's
bench step clips; clip_grad_norm_ costs one fused norm, under 1% of the step). Each document is one row of the
batch (DOCS x DOC_LEN), so SDPA runs its causal flash kernel. Random weights (transformers' init), random tokens.

After WARMUP untimed steps (cuBLAS heuristics, the optimizer's state, the caching allocator), REPEAT steps are
timed with CUDA events: forward+backward, and the whole step (forward, backward, AdamW, zeroing the gradients).
Prints one JSON line, in the shape `engine bench sft` reads from the CPU peer plus the step's figures:
  {"torch", "transformers", "model", "precision", "device", "tokens", "seconds" (best forward+backward),
   "median_seconds", "step_seconds" (best whole step), "median_step_seconds", "tokens_per_s", "step_tokens_per_s",
   "loss", "peak_memory_bytes"}
Needs torch and transformers. With DEVICE cpu and no transformers it falls back to qwen2_sft_peer.py's plain
Qwen2 (say so in "model"), which is how the script is tested on a machine without a GPU.
"""
import json
import os
import statistics
import sys
import time

import torch

WARMUP = 3


def build_model(cfg, device):
    """transformers' Qwen2ForCausalLM with SDPA attention, fp32 weights; the plain Qwen2 only on a CPU without
    transformers."""
    try:
        import transformers
        from transformers import Qwen2Config, Qwen2ForCausalLM
    except ImportError:
        if device.type == "cuda":
            raise SystemExit("qwen2_sft_cuda_peer.py: transformers is not installed (pip install transformers)")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from qwen2_sft_peer import PlainQwen2
        return PlainQwen2(cfg).to(device), "plain torch Qwen2 (transformers not installed)", None
    config = Qwen2Config(vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
                         num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
                         num_key_value_heads=cfg["num_kv_heads"], tie_word_embeddings=True, rms_norm_eps=cfg["rms_norm_eps"],
                         rope_theta=cfg["rope_theta"], max_position_embeddings=max(32768, cfg["doc_len"]), use_cache=False,
                         attn_implementation="sdpa")
    model = Qwen2ForCausalLM(config).to(device=device, dtype=torch.float32)
    return model, "transformers Qwen2ForCausalLM (sdpa attention)", transformers.__version__


def main():
    if len(sys.argv) not in (11, 12):
        raise SystemExit(__doc__.split("\n\n")[1])
    hidden, inter, layers, heads, kv, vocab, docs, doc_len, threads, repeat = (int(x) for x in sys.argv[1:11])
    device = torch.device(sys.argv[11] if len(sys.argv) == 12 else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("qwen2_sft_cuda_peer.py: torch sees no CUDA device")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_layers=layers, num_heads=heads,
               num_kv_heads=kv, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1000000.0, doc_len=doc_len)
    model, name, transformers_version = build_model(cfg, device)
    model.train()
    cuda = device.type == "cuda"
    # fused=True is CUDA-only; the CPU test run takes the default implementation.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                  **({"fused": True} if cuda else {}))
    ids = torch.randint(0, vocab, (docs, doc_len), device=device)

    def forward_backward():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss

    def timed_step():
        """(forward+backward seconds, whole step seconds, loss)."""
        if cuda:
            marks = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
            marks[0].record()
            loss = forward_backward()
            marks[1].record()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            marks[2].record()
            marks[2].synchronize()
            return marks[0].elapsed_time(marks[1]) / 1e3, marks[0].elapsed_time(marks[2]) / 1e3, loss.item()
        t0 = time.perf_counter()
        loss = forward_backward()
        t1 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return t1 - t0, time.perf_counter() - t0, loss.item()

    for _ in range(WARMUP):
        timed_step()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    runs = [timed_step() for _ in range(max(1, repeat))]
    fb, step = [r[0] for r in runs], [r[1] for r in runs]
    tokens = docs * doc_len
    print(json.dumps(dict(
        torch=torch.__version__, transformers=transformers_version, model=name,
        precision="bf16 autocast, fp32 master weights and AdamW moments, AdamW fused" if cuda else "bf16 autocast on the CPU (test run)",
        device=torch.cuda.get_device_name(device) if cuda else "cpu", tokens=tokens,
        seconds=min(fb), median_seconds=statistics.median(fb), step_seconds=min(step), median_step_seconds=statistics.median(step),
        tokens_per_s=tokens / min(fb), step_tokens_per_s=tokens / min(step), loss=runs[-1][2],
        peak_memory_bytes=torch.cuda.max_memory_allocated(device) if cuda else None)))


if __name__ == "__main__":
    main()
