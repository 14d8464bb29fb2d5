#!/usr/bin/python3
"""The PyTorch peer of `engine bench sft`: forward+backward of a Qwen2 of the given shape in plain torch (float32,
eager attention, documents as a batch), timed on the given threads. Needs only torch (Debian's python3-torch).

  qwen2_sft_peer.py HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB DOCS DOC_LEN THREADS REPEAT
Prints one JSON line: {"torch": version, "seconds": best forward+backward time, "loss": its loss}.
"""
import json
import sys
import time

import torch


class PlainQwen2(torch.nn.Module):
    """Qwen2 in plain torch (float32), HF parameter names, HF-style init (normal 0.02, norms 1); lm_head only when
    c["tie_word_embeddings"] is false."""

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
        if not c.get("tie_word_embeddings", True):
            add("lm_head.weight", P(V, C))

    def named_parameters(self, *args, **kwargs):
        return [(name, self.params[key]) for name, key in self.names.items()]

    def p(self, name):
        return self.params[self.names[name]]

    def forward(self, input_ids, labels=None):
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
        head = self.p("lm_head.weight" if "lm_head.weight" in self.names else "model.embed_tokens.weight")
        logits = norm(x, self.p("model.norm.weight")) @ head.T
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return type("Out", (), {"loss": loss, "logits": logits})


def main():
    hidden, inter, layers, heads, kv, vocab, docs, doc_len, threads, repeat = (int(x) for x in sys.argv[1:11])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_layers=layers, num_heads=heads,
               num_kv_heads=kv, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1000000.0)
    model = PlainQwen2(cfg)
    ids = torch.randint(0, vocab, (docs, doc_len))

    def step():
        for p in model.parameters():
            p.grad = None
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.item()

    loss = step()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        loss = step()
        best = min(best, time.perf_counter() - t)
    print(json.dumps(dict(torch=torch.__version__, seconds=best, loss=loss)))


if __name__ == "__main__":
    main()
