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


class PlainQwen2(torch.nn.Module):
    """Qwen2 in plain torch (float32), HF parameter names, HF-style init (normal 0.02, norms 1)."""

    def __init__(self, c):
        super().__init__()
        C, I, V, H, KV = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_heads"], c["num_kv_heads"]
        self.c, self.D = c, C // H
        P = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        self.params = torch.nn.ParameterDict()
        self.names = {}
        def add(name, p):
            key = name.replace(".", "__")
            self.params[key] = p
            self.names[name] = key
        add("model.embed_tokens.weight", P(V, C))
        for l in range(c["num_layers"]):
            q = f"model.layers.{l}."
            add(q + "input_layernorm.weight", torch.nn.Parameter(torch.ones(C)))
            add(q + "self_attn.q_proj.weight", P(H * self.D, C)); add(q + "self_attn.q_proj.bias", P(H * self.D))
            add(q + "self_attn.k_proj.weight", P(KV * self.D, C)); add(q + "self_attn.k_proj.bias", P(KV * self.D))
            add(q + "self_attn.v_proj.weight", P(KV * self.D, C)); add(q + "self_attn.v_proj.bias", P(KV * self.D))
            add(q + "self_attn.o_proj.weight", P(C, H * self.D))
            add(q + "post_attention_layernorm.weight", torch.nn.Parameter(torch.ones(C)))
            add(q + "mlp.gate_proj.weight", P(I, C)); add(q + "mlp.up_proj.weight", P(I, C)); add(q + "mlp.down_proj.weight", P(C, I))
        add("model.norm.weight", torch.nn.Parameter(torch.ones(C)))

    def named_parameters(self, *args, **kwargs):
        return [(name, self.params[key]) for name, key in self.names.items()]

    def p(self, name):
        return self.params[self.names[name]]

    def forward(self, input_ids, labels):
        c, D = self.c, self.D
        H, KV, eps = c["num_heads"], c["num_kv_heads"], c["rms_norm_eps"]
        B, T = input_ids.shape
        norm = lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
        rot = lambda x: torch.cat((-x[..., D // 2:], x[..., :D // 2]), dim=-1)
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        f = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
        emb = torch.cat((f, f), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.p("model.embed_tokens.weight")[input_ids]
        for l in range(c["num_layers"]):
            w = lambda n: self.p(f"model.layers.{l}.{n}")
            h = norm(x, w("input_layernorm.weight"))
            q = torch.nn.functional.linear(h, w("self_attn.q_proj.weight"), w("self_attn.q_proj.bias")).view(B, T, H, D).transpose(1, 2)
            k = torch.nn.functional.linear(h, w("self_attn.k_proj.weight"), w("self_attn.k_proj.bias")).view(B, T, KV, D).transpose(1, 2)
            v = torch.nn.functional.linear(h, w("self_attn.v_proj.weight"), w("self_attn.v_proj.bias")).view(B, T, KV, D).transpose(1, 2)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            att = ((q @ k.transpose(-1, -2)) / D ** 0.5 + mask).softmax(-1) @ v
            x = x + torch.nn.functional.linear(att.transpose(1, 2).reshape(B, T, H * D), w("self_attn.o_proj.weight"))
            h = norm(x, w("post_attention_layernorm.weight"))
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(h, w("mlp.gate_proj.weight")))
                                               * torch.nn.functional.linear(h, w("mlp.up_proj.weight")), w("mlp.down_proj.weight"))
        logits = norm(x, self.p("model.norm.weight")) @ self.p("model.embed_tokens.weight").T
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return type("Out", (), {"loss": loss})


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
