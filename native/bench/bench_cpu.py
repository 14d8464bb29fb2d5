#!/usr/bin/env python3
"""Forward+backward tokens/s of the native trainer and of PyTorch (float32, same threads, same shapes) on the CPU,
measured in one run; also checks that both give the same loss and gradients. The PyTorch peer is HF transformers'
Qwen2ForCausalLM where transformers is installed, else the plain-torch Qwen2 below (eager attention, documents as
a batch), which Debian's python3-torch can run.

  python3 native/bench/bench_cpu.py LIB [--threads 16] [--layers 4] [--tokens 1024] [--docs 4]
Shapes are Qwen2.5-0.5B's (hidden 896, 14 heads, 2 KV heads, intermediate 4864, vocab 151936) with fewer layers.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_ctypes import Model  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "Engine.Cli", "Peers"))
from qwen2_sft_peer import PlainQwen2  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--docs", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = dict(vocab_size=a.vocab, hidden_size=896, intermediate_size=4864, num_layers=a.layers, num_heads=14,
               num_kv_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1000000.0)
    torch.manual_seed(0)
    try:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        hf_cfg = Qwen2Config(vocab_size=cfg["vocab_size"], hidden_size=896, intermediate_size=4864, num_hidden_layers=a.layers,
                             num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-6,
                             rope_theta=1000000.0, max_position_embeddings=32768)
        hf = Qwen2ForCausalLM(hf_cfg).float()
        peer = "transformers Qwen2ForCausalLM"
    except ImportError:
        hf = PlainQwen2(cfg)
        peer = "plain-torch Qwen2"
    with torch.no_grad():  # HF initialises biases to 0; make them matter
        for n, p in hf.named_parameters():
            if n.endswith(".bias"):
                p.normal_(0, 0.02)
    params = {n: p.detach().numpy() for n, p in hf.named_parameters()}
    native = Model(a.lib, cfg, a.threads)
    native.write_params(params)

    per_doc = a.tokens // a.docs
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, cfg["vocab_size"], size=(a.docs, per_doc))
    flat = tokens.reshape(-1)
    n_scored = a.docs * (per_doc - 1)

    def run_native():
        native.zero_grads()
        s, v = native.forward_backward(flat, flat, [per_doc] * a.docs, 1.0 / n_scored)
        return s / v

    ids = torch.tensor(tokens)

    def run_torch():
        hf.zero_grad(set_to_none=False)
        out = hf(input_ids=ids, labels=ids)  # documents as a batch: the same work as the packed row
        out.loss.backward()
        return out.loss.item()

    print(f"peer: {peer}; threads {a.threads}, layers {a.layers}, tokens {a.docs}x{per_doc}, torch {torch.__version__}, "
          f"BLAS: {torch.__config__.show().count('openblas') and 'OpenBLAS' or 'see torch config'}", flush=True)
    results = {}
    for name, fn in (("native", run_native), ("torch", run_torch)):
        loss = fn()  # warm-up
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            loss = fn()
            times.append(time.perf_counter() - t)
        best = min(times)
        results[name] = (loss, best)
        print(f"{name:6s} loss {loss:.6f}  best {best:.3f}s  {a.tokens / best:,.0f} tok/s  (runs {', '.join(f'{t:.3f}' for t in times)})", flush=True)
    print(f"speedup native/torch: {results['torch'][1] / results['native'][1]:.2f}x; |loss diff| {abs(results['native'][0] - results['torch'][0]):.2e}")
    g_native = native.read(1, "model.layers.0.mlp.down_proj.weight")
    g_torch = dict(hf.named_parameters())["model.layers.0.mlp.down_proj.weight"].grad.double().numpy()
    print(f"layer 0 down_proj grad: max |diff| {np.abs(g_native - g_torch).max():.2e}, max |ref| {np.abs(g_torch).max():.2e}")


if __name__ == "__main__":
    main()
