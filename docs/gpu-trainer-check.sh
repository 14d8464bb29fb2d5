#!/usr/bin/env bash
# Every GPU check of issue 15 (the CUDA trainer) in ONE run of under 10 minutes on an H100/H200, each step under its own
# time limit and all of them under one deadline ($BUDGET seconds, default 540), the most important first:
#   1. selftest --trainer --device cuda: every op forward and backward against the CPU fp32 ops;
#   2. a 10-step SFT of a small generated Qwen2 on cuda and on cpu: losses within 1% at every step;
#   3. the same cuda run twice, the second with --profile (the trace of its second step): bit-identical losses and
#      gradient norms (so profiling changes nothing on the GPU either);
#   4. NCCL: `bench nccl` (every collective exact on this GPU), then the SFT of 2 as one rank under a launcher
#      (mpirun -np 1, or OMPI_COMM_WORLD_SIZE=1 where there is no mpirun), so its gradients and weights go through
#      NCCL, at ZeRO stage 0 and 1: bit-identical to the run of 2 without a launcher;
#   5. with N >= 2 GPUs and mpirun: mpirun -np N sft --grad-accum 4/N against one GPU with accumulation 4 (same data
#      per step): losses within 1e-3 (bf16 tolerance; float64 sums make them equal in practice);
#   6. bench sft --device cuda --size 0.5b at 4 x 2048 tokens against the PyTorch peer (transformers, SDPA, bf16
#      autocast, fused AdamW) in the same run (--peer), with --profile: the trace of one step and its slowest five kernels;
#   7. when time is left: docs/gpu-trainer-measure.sh (10 SFT steps of a 0.5B-shaped model against PyTorch float32).
# Usage: docs/gpu-trainer-check.sh [ENGINE] with $OUT set (the device tool's output folder); ENGINE defaults to
# publish-gpu/engine (docs/gpu-session.md says how to publish it). Needs python3 (standard library only for the
# small model; torch + transformers for the peer). Only a few files come back from the device tool, so everything
# is written to a work folder and packed into $OUT/trainer-results.tgz; $OUT/summary.txt and $OUT/summary.json say
# which steps passed. Exit code: the number of failed steps.
set -u
ENGINE=${1:-publish-gpu/engine}
OUT=${OUT:?set OUT to the folder for the results}
BUDGET=${BUDGET:-540}
WORK=$(mktemp -d)
RES=$WORK/results
FAILED=0
mkdir -p "$OUT" "$RES"
: > "$OUT/summary.txt"
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
verdict() { # verdict NAME passed|failed|skipped DETAIL: one line of summary.json
    printf '{"step": "%s", "result": "%s", "detail": "%s", "at_s": %d}\n' "$1" "$2" "$3" "$SECONDS" >> "$RES/verdicts.jsonl"
    [ "$2" = failed ] && FAILED=$((FAILED + 1))
    summary "$1: $2 ${3:+($3)}"
}
run() { # run NAME SECONDS COMMAND...: stdout to $RES/NAME.out, stderr to $RES/NAME.err, under min(SECONDS, time left)
    local name=$1 limit=$2; shift 2
    local left=$((BUDGET - SECONDS))
    if [ $left -lt 15 ]; then summary "$name: skipped (out of time)"; return 124; fi
    [ $limit -gt $left ] && limit=$left
    local start=$SECONDS
    timeout "$limit" "$@" > "$RES/$name.out" 2> "$RES/$name.err"
    local rc=$?
    summary "$name: exit $rc in $((SECONDS - start)) s (limit $limit s)"
    return $rc
}
finish() {
    python3 -c 'import json, sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])], indent=1))' "$RES/verdicts.jsonl" > "$OUT/summary.json" 2>/dev/null
    cp "$OUT/summary.txt" "$RES/" 2>/dev/null
    tar czf "$OUT/trainer-results.tgz" -C "$RES" . && summary "results: $OUT/trainer-results.tgz ($(du -k "$OUT/trainer-results.tgz" | cut -f1) KiB)"
    summary "failed steps: $FAILED in $SECONDS s"
    rm -rf "$WORK"
}
trap finish EXIT
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
nvidia-smi -L > "$RES/gpu.txt" 2>&1
ls /usr/lib/python3*/site-packages/nvidia /usr/local/lib/python3*/dist-packages/nvidia /usr/local/lib/python3*/site-packages/nvidia \
    > "$RES/wheels.txt" 2>&1
# The Python with torch and transformers runs the peers (ENG_PEER_PYTHON, read by bench sft --peer).
for py in python3 /usr/bin/python3 /opt/*/.venv/bin/python3 /usr/local/bin/python3; do
    if "$py" -c 'import torch, transformers' 2>/dev/null; then export ENG_PEER_PYTHON=$py; break; fi
done
summary "gpus: $GPUS; peer python: ${ENG_PEER_PYTHON:-none with torch and transformers}; mpirun: $(command -v mpirun || echo none)"

# 1. Every op against the CPU fp32 path. Should the trainer's own search miss cuBLASLt, say so, point
# ENG_CUBLASLT_PATH at the copy Python's packages hold, and go on (the miss is then a finding to fix).
run selftest 60 "$ENGINE" selftest --trainer --device cuda --seed 15 --json
rc=$?
if [ $rc -ne 0 ] && grep -q "no cuBLASLt" "$RES/selftest.err"; then
    lib=$("${ENG_PEER_PYTHON:-python3}" -c 'import glob, site, sys; hits = [p for d in site.getsitepackages() + [site.getusersitepackages()] for p in glob.glob(d + "/nvidia/*/lib/libcublasLt.so.*")]; print(hits[0] if hits else "")')
    summary "selftest: the trainer did not find cuBLASLt; python3 has it at '${lib}': retrying with ENG_CUBLASLT_PATH"
    export ENG_CUBLASLT_PATH=$lib
    run selftest 60 "$ENGINE" selftest --trainer --device cuda --seed 15 --json
    rc=$?
fi
if [ $rc -eq 0 ]; then verdict selftest passed "every op within its bf16 tolerance"; else verdict selftest failed "see selftest.out/.err"; fi

# A small Qwen2 (tied embeddings, grouped-query attention, q/k/v biases) and packed SFT data with prompt tokens masked.
python3 - "$WORK" <<'PY' > "$RES/model.txt" 2>&1 || { verdict model failed "python3 could not write the test model"; exit 99; }
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
     --batch-size 2 --packing greedy --seed 15 --weight-decay 0.1 --max-grad-norm 1.0)
run sft-cuda-1 45 "$ENGINE" "${SFT[@]}" --grad-accum 2 --device cuda --out "$WORK/cuda-1"
# The second run also profiles its second step: bit identity with the first then shows that profiling changes nothing.
run sft-cuda-2 45 "$ENGINE" "${SFT[@]}" --grad-accum 2 --device cuda --out "$WORK/cuda-2" --profile "$RES/trace-sft-small.json"
run sft-cpu 60 "$ENGINE" "${SFT[@]}" --grad-accum 2 --device cpu --out "$WORK/cpu"

# 4. NCCL on this GPU: the collectives, then the same SFT as one launched rank (its sums go through NCCL).
# ENG_NCCL_PATH falls back to the copy in torch's wheels if the engine's own search misses NCCL (a finding to fix).
run nccl 40 "$ENGINE" bench nccl --elements 67108864 --repeat 5 --json
if [ ! -s "$RES/nccl.out" ] && grep -q "NCCL (libnccl.so.2) not found" "$RES/nccl.err"; then
    lib=$("${ENG_PEER_PYTHON:-python3}" -c "import glob, site; print(next(iter(sorted(p for s in site.getsitepackages() for p in glob.glob(s + '/nvidia/**/libnccl.so.2', recursive=True))), ''))" 2>/dev/null)
    summary "nccl: the engine did not find NCCL; torch's wheels have '${lib}': retrying with ENG_NCCL_PATH"
    [ -n "$lib" ] && export ENG_NCCL_PATH=$lib && run nccl 40 "$ENGINE" bench nccl --elements 67108864 --repeat 5 --json
fi
python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("results") == "exact" else 1)' "$RES/nccl.out" 2>/dev/null \
    && verdict nccl-collectives passed "$(head -c 300 "$RES/nccl.out" | tr -d '"\n')" || verdict nccl-collectives failed "see nccl.out/.err"
exports() { # mpirun's -x for each library variable that is set
    local v
    for v in ENG_NCCL_PATH ENG_CUBLASLT_PATH LD_LIBRARY_PATH; do [ -n "${!v:-}" ] && printf -- '-x\n%s\n' "$v"; done
}
launched() { # launched NAME COMMAND...: one rank under mpirun, or with the variable mpirun -np 1 sets
    local name=$1; shift
    if command -v mpirun > /dev/null; then
        mapfile -t X < <(exports)
        run "$name" 45 mpirun --allow-run-as-root -np 1 "${X[@]}" "$@"
    else
        run "$name" 45 env OMPI_COMM_WORLD_SIZE=1 "$@"
    fi
}
launched sft-nccl-stage0 "$ENGINE" "${SFT[@]}" --grad-accum 2 --device cuda --zero-stage 0 --out "$WORK/nccl-0"
launched sft-nccl-stage1 "$ENGINE" "${SFT[@]}" --grad-accum 2 --device cuda --zero-stage 1 --out "$WORK/nccl-1"

# 5. Several GPUs: N ranks with accumulation 4/N against one GPU with accumulation 4 (the same global batch).
if [ "$GPUS" -ge 2 ] && command -v mpirun > /dev/null; then
    N=$([ "$GPUS" -ge 4 ] && echo 4 || echo 2)
    run sft-cuda-accum4 45 "$ENGINE" "${SFT[@]}" --grad-accum 4 --device cuda --out "$WORK/cuda-accum4"
    mapfile -t X < <(exports)
    run sft-cuda-ranks 60 mpirun --allow-run-as-root -np "$N" "${X[@]}" \
        "$ENGINE" "${SFT[@]}" --grad-accum $((4 / N)) --device cuda --out "$WORK/cuda-ranks"
else
    summary "multi-gpu: not run ($GPUS GPU(s), mpirun $(command -v mpirun > /dev/null && echo present || echo absent)); 4. covers NCCL on one GPU"
fi
for d in cuda-1 cuda-2 cpu nccl-0 nccl-1 cuda-accum4 cuda-ranks; do cp "$WORK/$d/metrics.jsonl" "$RES/metrics-$d.jsonl" 2>/dev/null; done
python3 - "$RES" <<'PY' > "$RES/sft-compare.json" 2> "$RES/sft-compare.err"
import json, os, sys
res = sys.argv[1]
def load(name):
    try: return [json.loads(l) for l in open(f"{res}/metrics-{name}.jsonl")]
    except OSError: return []
def same(a, b): return len(a) == 10 and [(x["loss"], x["grad_norm"]) for x in a] == [(y["loss"], y["grad_norm"]) for y in b]
def rel(a, b): return [abs(g["loss"] - c["loss"]) / abs(c["loss"]) for c, g in zip(a, b) if c["loss"] is not None and g["loss"] is not None]
cpu, a, b = load("cpu"), load("cuda-1"), load("cuda-2")
steps = [dict(step=c["step"], cpu=c["loss"], cuda=g["loss"], rel=r) for c, g, r in zip(cpu, a, rel(cpu, a))]
report = dict(steps=steps, max_rel=max((s["rel"] for s in steps), default=None),
              within_1_percent=len(steps) == 10 and all(s["rel"] <= 0.01 for s in steps),
              cuda_runs_bit_identical=same(a, b),
              nccl_one_rank_stage0_bit_identical=same(a, load("nccl-0")),
              nccl_one_rank_stage1_bit_identical=same(a, load("nccl-1")))
accum, ranks = load("cuda-accum4"), load("cuda-ranks")
if accum or ranks:
    r = rel(accum, ranks)
    report["multi_gpu"] = dict(max_rel=max(r, default=None), within_1e_3=len(r) == 10 and all(x <= 1e-3 for x in r), bit_identical=same(accum, ranks))
print(json.dumps(report, indent=1))
PY
check() { python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); v = eval(sys.argv[2], {}, r); sys.exit(0 if v else 1)' "$RES/sft-compare.json" "$1" 2>/dev/null; }
maxrel=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["max_rel"])' "$RES/sft-compare.json" 2>/dev/null)
check within_1_percent && verdict parity-cpu passed "max relative loss difference $maxrel" || verdict parity-cpu failed "max relative loss difference ${maxrel:-none}"
check cuda_runs_bit_identical && verdict bit-identical passed "" || verdict bit-identical failed "two cuda runs differ"
for z in 0 1; do # the log must say the model buffers went over NCCL, and the run must repeat the plain one's bits
    if check "nccl_one_rank_stage${z}_bit_identical" && grep -q "model buffers over NCCL" "$RES/sft-nccl-stage$z.err"; then
        verdict "nccl-one-rank-stage$z" passed "$(grep -o 'model buffers over NCCL[^;]*' "$RES/sft-nccl-stage$z.err" | head -1)"
    else
        verdict "nccl-one-rank-stage$z" failed "see sft-nccl-stage$z.err"
    fi
done
if [ -s "$RES/metrics-cuda-ranks.jsonl" ] || [ -s "$RES/metrics-cuda-accum4.jsonl" ]; then
    check 'multi_gpu["within_1e_3"]' && verdict multi-gpu passed "" || verdict multi-gpu failed "see sft-compare.json"
fi

# 6. Tokens/s and MFU at Qwen2.5-0.5B's shape, 4 x 2048 tokens, against the PyTorch peer in the same run, and the
# profile of one more step.
run bench-sft-05b 180 "$ENGINE" bench sft --device cuda --size 0.5b --docs 4 --doc-len 2048 --repeat 3 --peer \
    --profile "$RES/trace-sft-05b.json" --json
python3 - "$RES/bench-sft-05b.out" <<'PY' > "$RES/bench-verdict.txt" 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
slow = ", ".join(f'{s["op"]} {s["share"]:.1%}' for s in r.get("profile", {}).get("slowest", []))
print(f'{r["step_tokens_per_s"]} tok/s, MFU {r.get("mfu")}, peer step {r.get("peer_step_tokens_per_s")} tok/s, step speedup {r.get("step_speedup_over_peer")} (goal: MFU >= 0.45, speedup >= 1.3); slowest: {slow}')
sys.exit(0 if r.get("mfu", 0) >= 0.45 and (r.get("step_speedup_over_peer") or 0) >= 1.3 else 1)
PY
rc=$?
detail=$(tr -d '"\n' < "$RES/bench-verdict.txt")
if [ $rc -eq 0 ]; then verdict bench-goals passed "$detail"; elif [ -s "$RES/bench-sft-05b.out" ]; then verdict bench-goals failed "$detail"; else verdict bench-goals failed "bench did not run: see bench-sft-05b.err"; fi

# 7. With the time left: the 0.5B-shaped parity against PyTorch float32 (docs/gpu-trainer-measure.sh).
if [ $((BUDGET - SECONDS)) -ge 150 ]; then
    run measure $((BUDGET - SECONDS - 10)) env OUT="$RES" E="$ENGINE" bash "$(dirname "$0")/gpu-trainer-measure.sh"
    grep -q '"within_tolerance": true' "$RES/parity.json" 2>/dev/null && verdict parity-torch-fp32 passed "" || verdict parity-torch-fp32 failed "see parity.json/parity.err"
else
    summary "measure: skipped ($((BUDGET - SECONDS)) s left)"
fi
exit $FAILED
