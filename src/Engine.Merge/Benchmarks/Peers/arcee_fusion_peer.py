"""Speed peer for `engine bench merge --peer`: mergekit's Arcee Fusion (mergekit/merge_methods/arcee_fusion.py)
applied tensor by tensor in PyTorch, as mergekit runs it with `dtype: bfloat16` on the CPU: load both tensors,
compute the importance in bf16, estimate quantiles from 1M-element samples, blend, write a safetensors file.
Prints one JSON line: {"seconds": ..., "torch": ...}. Reads safetensors with json + numpy only."""
import json, struct, sys, time, os
import numpy as np
import torch
import torch.nn.functional as F

def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n

def shards(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            names = sorted(set(json.load(f)["weight_map"].values()))
    else:
        names = ["model.safetensors"]
    return [os.path.join(model_dir, n) for n in names]

def tensors(model_dir):
    for path in shards(model_dir):
        header, start = read_header(path)
        data = np.memmap(path, dtype=np.uint8, mode="r")
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            raw = torch.from_numpy(np.array(data[start + b:start + e]))
            assert info["dtype"] == "BF16"
            yield name, raw.view(torch.bfloat16).reshape(info["shape"])

def quantiles(t, q):
    flat = t.view(-1)
    if flat.numel() > 1e6:
        flat = flat[torch.randperm(flat.numel())[:1000000]]
    s, _ = torch.sort(flat)
    return s[(q * (s.numel() - 1)).long()]

def fuse(other, base, eps=1e-8):
    diff = (other - base).abs()
    p = F.softmax(other, dim=-1) + eps
    q = F.softmax(base, dim=-1) + eps
    kl = torch.sum(p * torch.log(p / q), dim=-1)
    importance = diff * kl.unsqueeze(-1)
    median = quantiles(importance, torch.tensor([0.5]))[0]
    q1, q3 = quantiles(importance, torch.tensor([0.25, 0.75]))
    mask = (importance >= median + 1.5 * (q3 - q1)).to(base.dtype)
    return base + (other - base) * mask

def main():
    base_dir, other_dir, out_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    others = dict(tensors(other_dir))
    header, offset, blobs = {}, 0, []
    for name, base in tensors(base_dir):
        merged = fuse(others.pop(name), base).contiguous()
        blob = merged.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(merged.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out_path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    print(json.dumps({"seconds": time.perf_counter() - start, "torch": f"torch {torch.__version__}, {threads} threads"}))

if __name__ == "__main__":
    main()
