#!/usr/bin/env bash
# The 10-step parity SFT of a Qwen2.5-0.5B-shaped model against PyTorch float32 on the GPU (issue 15), the last step
# of docs/gpu-trainer-check.sh (which runs it with the time it has left, OUT set to its results folder; NCCL and the
# bench against the PyTorch bf16 peer are steps of that script). Run from the repository root on the device machine
# with the engine published into publish-gpu/ (docs/gpu-session.md). Writes JSON files and logs under $OUT (default
# ./gpu-out). Each step has its own time limit; the whole script stays under 3.5 minutes even when every step runs
# into its limit. The Python with torch is $ENG_PEER_PYTHON (the check script finds it), else python3.
set -u -o pipefail
OUT=${OUT:-gpu-out}
E=${E:-publish-gpu/engine}
PEERS=src/Engine.Cli/Peers
PY=${ENG_PEER_PYTHON:-python3}
WORK=$(mktemp -d)
mkdir -p "$OUT"
step() { echo "== $1 ($(date -u +%T))"; }

step "environment"
{ nvidia-smi -L; $PY -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"; } 2>&1 | tee "$OUT/trainer-env.txt"

step "parity: 10 SFT steps of a random Qwen2.5-0.5B-shaped model, engine on CUDA against PyTorch float32"
timeout 60 $PY $PEERS/qwen2_sft_reference.py make-model --out "$WORK/model" &&
timeout 20 $PY $PEERS/qwen2_sft_reference.py make-data --out "$WORK/rows.jsonl" --vocab 151936 --rows 16 --min-len 64 --max-len 512
# Every step sees all 16 rows (one global batch), so the reference needs no data order; lr 1e-4 moves the loss enough
# that a 1% bound means something.
SETTINGS="--steps 10 --lr 1e-4 --lr-schedule cosine --seq-len 2048"
timeout 60 "$E" sft --device cuda --model "$WORK/model" --data "$WORK/rows.jsonl" --out "$WORK/sft" --packing greedy \
  --batch-size 16 --grad-accum 1 --max-steps 10 --lr 1e-4 --lr-schedule cosine --seq-len 2048 > "$OUT/parity-sft.log" 2>&1
echo "engine sft --device cuda rc=$?"; cp "$WORK/sft/metrics.jsonl" "$OUT/parity-engine-metrics.jsonl" 2>/dev/null
timeout 60 $PY $PEERS/qwen2_sft_reference.py run --model "$WORK/model" --data "$WORK/rows.jsonl" $SETTINGS --device cuda \
  --compare "$WORK/sft/metrics.jsonl" --tolerance 0.01 > "$OUT/parity.json" 2> "$OUT/parity.err"
echo "reference rc=$? (0: every step within 1%)"; tail -c 600 "$OUT/parity.json"; cat "$OUT/parity.err"

rm -rf "$WORK"
