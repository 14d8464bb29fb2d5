#!/usr/bin/env bash
# The CUDA trainer's checks on a GPU machine (issue 15), in one run of under 5 minutes:
#   1. engine selftest --trainer --device cuda: every op forward and backward against the CPU fp32 ops;
#   2. a 10-step SFT of a small generated Qwen2 on cuda and on cpu: losses within 1% at every step;
#   3. the same cuda run twice: bit-identical losses and gradient norms;
#   4. engine bench sft --device cuda at Qwen2.5-0.5B's shape (24 layers, 151,936 vocabulary, 4 x 2048 tokens).
# Usage: docs/gpu-trainer-check.sh [ENGINE] with $OUT set (the device tool's output folder); ENGINE defaults to
# publish-gpu/engine (docs/gpu-session.md says how to publish it). Needs python3 (standard library only: it writes
# the small model's safetensors itself). Each step runs under `timeout`, so one hang cannot eat the run; every result lands in
# $OUT as JSON or text, and $OUT/summary.txt says which steps passed. Exit code: the number of failed steps.
set -u
ENGINE=${1:-publish-gpu/engine}
OUT=${OUT:?set OUT to the folder for the results}
WORK=$(mktemp -d)
FAILED=0
mkdir -p "$OUT"
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
run() { # run NAME SECONDS COMMAND...: the command's stdout to $OUT/NAME.out, stderr to $OUT/NAME.err
    local name=$1 seconds=$2; shift 2
    local start=$SECONDS
    timeout "$seconds" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
    local rc=$?
    summary "$name: exit $rc in $((SECONDS - start)) s"
    return $rc
}

nvidia-smi -L > "$OUT/gpu.txt" 2>&1
ls /usr/lib/python3*/site-packages/nvidia /usr/local/lib/python3*/dist-packages/nvidia /usr/local/lib/python3*/site-packages/nvidia \
    > "$OUT/wheels.txt" 2>&1

# 1. Every op against the CPU fp32 path. Should the trainer's own search miss cuBLASLt, say so, point
# ENG_CUBLASLT_PATH at the copy Python's packages hold, and go on (the miss is then a finding to fix).
run selftest 60 "$ENGINE" selftest --trainer --device cuda --seed 15 --json
rc=$?
if [ $rc -ne 0 ] && grep -q "no cuBLASLt" "$OUT/selftest.err"; then
    lib=$(python3 -c 'import glob, site, sys; hits = [p for d in site.getsitepackages() + [site.getusersitepackages()] for p in glob.glob(d + "/nvidia/*/lib/libcublasLt.so.*")]; print(hits[0] if hits else "")')
    summary "selftest: the trainer did not find cuBLASLt; python3 has it at '${lib}': retrying with ENG_CUBLASLT_PATH"
    export ENG_CUBLASLT_PATH=$lib
    run selftest 60 "$ENGINE" selftest --trainer --device cuda --seed 15 --json
    rc=$?
fi
[ $rc -eq 0 ] || FAILED=$((FAILED + 1))
cp "$OUT/selftest.out" "$OUT/selftest.json" 2>/dev/null

# A small Qwen2 (tied embeddings, grouped-query attention, q/k/v biases) and packed SFT data with prompt tokens masked.
python3 - "$WORK" <<'PY' > "$OUT/model.txt" 2>&1 || { summary "model: python3 could not write the test model"; exit 99; }
import array, json, os, random, sys
root = sys.argv[1]
cfg = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=512, hidden_size=128, intermediate_size=352,
           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0,
           tie_word_embeddings=True, torch_dtype="float32")
r = random.Random(15)
C, I, H, KV, V = 128, 352, 4, 2, 512
D = C // H
def rnd(*shape, std=0.02):
    n = 1
    for s in shape: n *= s
    return shape, [r.gauss(0.0, std) for _ in range(n)]
def ones(n): return (n,), [1.0] * n
t = {"model.embed_tokens.weight": rnd(V, C), "model.norm.weight": ones(C)}
for l in range(cfg["num_hidden_layers"]):
    p = f"model.layers.{l}."
    t[p + "input_layernorm.weight"] = ones(C)
    t[p + "post_attention_layernorm.weight"] = ones(C)
    t[p + "self_attn.q_proj.weight"] = rnd(H * D, C); t[p + "self_attn.q_proj.bias"] = rnd(H * D)
    t[p + "self_attn.k_proj.weight"] = rnd(KV * D, C); t[p + "self_attn.k_proj.bias"] = rnd(KV * D)
    t[p + "self_attn.v_proj.weight"] = rnd(KV * D, C); t[p + "self_attn.v_proj.bias"] = rnd(KV * D)
    t[p + "self_attn.o_proj.weight"] = rnd(C, H * D)
    t[p + "mlp.gate_proj.weight"] = rnd(I, C); t[p + "mlp.up_proj.weight"] = rnd(I, C); t[p + "mlp.down_proj.weight"] = rnd(C, I)
def save_safetensors(path, tensors):
    # The safetensors layout: u64 header length, JSON header (name -> dtype, shape, byte offsets), raw little-endian data.
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (shape, values) in tensors.items():
        blob = array.array("f", values).tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob); offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little")); f.write(text)
        for blob in blobs: f.write(blob)
model = os.path.join(root, "model"); os.makedirs(model)
save_safetensors(os.path.join(model, "model.safetensors"), t)
json.dump(cfg, open(os.path.join(model, "config.json"), "w"))
with open(os.path.join(root, "data.jsonl"), "w") as f:
    for _ in range(96):
        n, prompt = r.randint(16, 120), r.randint(4, 12)
        ids = [r.randrange(V) for _ in range(n)]
        f.write(json.dumps({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]}) + "\n")
print("model and data written to", root)
PY

# 2 and 3. Ten steps on each device (packed rows of 512 tokens, 2 per micro-batch, 2 accumulation steps).
SFT=(sft --model "$WORK/model" --data "$WORK/data.jsonl" --lr 1e-3 --lr-schedule constant --max-steps 10 --seq-len 512
     --batch-size 2 --grad-accum 2 --packing greedy --seed 15 --weight-decay 0.1 --max-grad-norm 1.0)
run sft-cuda-1 60 "$ENGINE" "${SFT[@]}" --device cuda --out "$WORK/cuda-1" || FAILED=$((FAILED + 1))
run sft-cuda-2 60 "$ENGINE" "${SFT[@]}" --device cuda --out "$WORK/cuda-2" || FAILED=$((FAILED + 1))
run sft-cpu 60 "$ENGINE" "${SFT[@]}" --device cpu --out "$WORK/cpu" || FAILED=$((FAILED + 1))
for d in cuda-1 cuda-2 cpu; do cp "$WORK/$d/metrics.jsonl" "$OUT/metrics-$d.jsonl" 2>/dev/null; done
python3 - "$OUT" <<'PY' > "$OUT/sft-compare.json" 2> "$OUT/sft-compare.err"
import json, sys
out = sys.argv[1]
def load(name):
    try: return [json.loads(l) for l in open(f"{out}/metrics-{name}.jsonl")]
    except OSError: return []
cpu, a, b = load("cpu"), load("cuda-1"), load("cuda-2")
steps = [dict(step=c["step"], cpu=c["loss"], cuda=g["loss"], rel=abs(g["loss"] - c["loss"]) / abs(c["loss"]))
         for c, g in zip(cpu, a) if c["loss"] is not None and g["loss"] is not None]
report = dict(steps=steps, max_rel=max((s["rel"] for s in steps), default=None),
              within_1_percent=len(steps) == 10 and all(s["rel"] <= 0.01 for s in steps),
              cuda_runs_bit_identical=len(a) == 10 and [(x["loss"], x["grad_norm"]) for x in a] == [(y["loss"], y["grad_norm"]) for y in b])
print(json.dumps(report, indent=1))
sys.exit(0 if report["within_1_percent"] and report["cuda_runs_bit_identical"] else 1)
PY
if [ $? -eq 0 ]; then summary "sft-compare: passed (losses within 1%, cuda runs bit-identical)"; else summary "sft-compare: FAILED (see sft-compare.json)"; FAILED=$((FAILED + 1)); fi

# 4. Tokens/s at Qwen2.5-0.5B's shape, 4 x 2048 tokens.
run bench-sft-05b 90 "$ENGINE" bench sft --device cuda --hidden 896 --intermediate 4864 --layers 24 --heads 14 --kv-heads 2 \
    --vocab 151936 --docs 4 --doc-len 2048 --repeat 2 --json || FAILED=$((FAILED + 1))
cp "$OUT/bench-sft-05b.out" "$OUT/bench-sft-05b.json" 2>/dev/null

summary "failed steps: $FAILED"
rm -rf "$WORK"
exit $FAILED
