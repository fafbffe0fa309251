#!/usr/bin/env bash
# The broad stage on a lent GPU (issue 16, run 5): two trainings side by side on one GPU over
# the compact data (python -m workbench.recipe.compact), each for MINUTES of training.
#   a: the shipped checkpoint (run 6, 6 x 192, 3.14 M parameters) fine-tuned whole (conv encoder unfrozen);
#   b: a wider model (256 x 6 layers, 5.4 M parameters), its conv encoder from the shipped checkpoint (the same since run 3).
# Each keeps its lowest-dev-CER step (datasets/kokoro-dev); OUT receives a.tar / b.tar (the
# exported Wav2Vec2ForCTC folders, split into 15 MB parts) and both logs.
# Usage, in the repository root of the GPU machine:  bash workbench/recipe/device_run.sh DATA MINUTES OUT
set -uo pipefail
DATA=${1:?compact data folder}; MIN=${2:?training minutes}; OUT=${3:?output folder}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
export HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error
CKPT=workbench/checkpoints/w2v2-tiny-ctc
COMMON=(--data-dir "$DATA" --minutes "$MIN" --workers 7 --threads 1 --eval-every 500 --batch-size 32
        --max-batch-seconds 200 --weights kokoro=0.5,splice=0.35,espeak=0.15 --silence-weight 0.5)
python3 -m workbench.recipe.device_train "${COMMON[@]}" --run-dir /tmp/run-a --init-from "$CKPT" \
    --lr 5e-4 --warmup 300 > "$OUT/a.log" 2>&1 &
python3 -m workbench.recipe.device_train "${COMMON[@]}" --run-dir /tmp/run-b --encoder-from "$CKPT" \
    --arch '{"hidden_size": 256, "num_hidden_layers": 6, "num_attention_heads": 4, "intermediate_size": 1024}' \
    --lr 1e-3 --warmup 800 --dropout 0.1 --mask-time-prob 0.3 --mask-feature-prob 0.15 > "$OUT/b.log" 2>&1 &
wait
nvidia-smi --query-gpu=memory.used --format=csv,noheader
for r in a b; do
    if [ -d /tmp/run-$r/broad/best/w2v2-tiny-ctc ]; then
        tar -C /tmp/run-$r/broad/best -cf - w2v2-tiny-ctc | split -b 15m - "$OUT/$r.tar."
    fi
    tail -n 3 "$OUT/$r.log"
done
ls -la "$OUT"
