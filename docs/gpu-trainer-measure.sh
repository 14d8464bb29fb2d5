#!/usr/bin/env bash
# The trainer's GPU measurements of issue 15 that run beside the CUDA trainer's own check (docs/gpu-trainer-check.sh):
# NCCL on this GPU, the 10-step parity SFT against PyTorch float32, and the bench against the PyTorch bf16 peer.
# Run from the repository root on the device machine, after the check script, with the engine published into
# publish-gpu/ (docs/gpu-session.md). Writes JSON files and logs under $OUT (default ./gpu-out). Each step has its own
# time limit; the whole script stays under 7 minutes (about 400 s) even when every step runs into its limit.
set -u -o pipefail
OUT=${OUT:-gpu-out}
E=${E:-publish-gpu/engine}
PEERS=src/Engine.Cli/Peers
WORK=$(mktemp -d)
mkdir -p "$OUT"
step() { echo "== $1 ($(date -u +%T))"; }

step "environment"
{ nvidia-smi -L; python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"; } 2>&1 | tee "$OUT/trainer-env.txt"

step "NCCL collectives on this GPU (the search as users get it, then through ENG_NCCL_PATH if it failed)"
timeout 40 "$E" bench nccl --elements 67108864 --repeat 5 --json > "$OUT/nccl.json" 2> "$OUT/nccl.err"
echo "bench nccl rc=$?"; cat "$OUT/nccl.json" "$OUT/nccl.err"
if [ ! -s "$OUT/nccl.json" ]; then
  NCCL_LIB=$(python3 -c "import glob, site; print(next(iter(sorted(p for s in site.getsitepackages() for p in glob.glob(s + '/nvidia/**/libnccl.so.2', recursive=True))), ''))")
  echo "libnccl.so.2 from torch's wheels: ${NCCL_LIB:-none}" | tee -a "$OUT/nccl.err"
  [ -n "$NCCL_LIB" ] && ENG_NCCL_PATH=$NCCL_LIB timeout 40 "$E" bench nccl --elements 67108864 --repeat 5 --json > "$OUT/nccl.json" 2>> "$OUT/nccl.err"
  [ -n "$NCCL_LIB" ] && export ENG_NCCL_PATH=$NCCL_LIB
fi

step "parity: 10 SFT steps of a random Qwen2.5-0.5B-shaped model, engine on CUDA against PyTorch float32"
timeout 60 python3 $PEERS/qwen2_sft_reference.py make-model --out "$WORK/model" &&
timeout 20 python3 $PEERS/qwen2_sft_reference.py make-data --out "$WORK/rows.jsonl" --vocab 151936 --rows 16 --min-len 64 --max-len 512
# Every step sees all 16 rows (one global batch), so the reference needs no data order; lr 1e-4 moves the loss enough
# that a 1% bound means something.
SETTINGS="--steps 10 --lr 1e-4 --lr-schedule cosine --seq-len 2048"
timeout 60 "$E" sft --device cuda --model "$WORK/model" --data "$WORK/rows.jsonl" --out "$WORK/sft" --packing greedy \
  --batch-size 16 --grad-accum 1 --max-steps 10 --lr 1e-4 --lr-schedule cosine --seq-len 2048 > "$OUT/parity-sft.log" 2>&1
echo "engine sft --device cuda rc=$?"; cp "$WORK/sft/metrics.jsonl" "$OUT/parity-engine-metrics.jsonl" 2>/dev/null
timeout 60 python3 $PEERS/qwen2_sft_reference.py run --model "$WORK/model" --data "$WORK/rows.jsonl" $SETTINGS --device cuda \
  --compare "$WORK/sft/metrics.jsonl" --tolerance 0.01 > "$OUT/parity.json" 2> "$OUT/parity.err"
echo "reference rc=$? (0: every step within 1%)"; tail -c 600 "$OUT/parity.json"; cat "$OUT/parity.err"

step "bench: engine against the PyTorch bf16 peer, Qwen2.5-0.5B shape, 4 x 2048 tokens"
timeout 90 "$E" bench sft --device cuda --size 0.5b --docs 4 --doc-len 2048 --repeat 5 --json > "$OUT/bench-sft-cuda.json" 2> "$OUT/bench-sft-cuda.err"
echo "engine bench rc=$?"; cat "$OUT/bench-sft-cuda.json" "$OUT/bench-sft-cuda.err"
timeout 90 python3 $PEERS/qwen2_sft_cuda_peer.py 896 4864 24 14 2 151936 4 2048 16 10 > "$OUT/peer-sft-cuda.json" 2> "$OUT/peer-sft-cuda.err"
echo "peer rc=$?"; cat "$OUT/peer-sft-cuda.json"; tail -3 "$OUT/peer-sft-cuda.err"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
try:
    engine = json.load(open(f"{out}/bench-sft-cuda.json"))
    peer = json.load(open(f"{out}/peer-sft-cuda.json"))
except (OSError, ValueError) as e:
    sys.exit(f"no comparison: {e}")
ratio = engine["step_tokens_per_s"] / peer["step_tokens_per_s"]
print(json.dumps(dict(engine_step_tokens_per_s=engine["step_tokens_per_s"], peer_step_tokens_per_s=peer["step_tokens_per_s"],
                      speedup_over_peer=round(ratio, 3), goal=1.3, engine_mfu=engine.get("mfu"),
                      peer_mfu=None if engine.get("mfu") is None else round(engine["mfu"] / ratio, 4))))
PY
rm -rf "$WORK"
