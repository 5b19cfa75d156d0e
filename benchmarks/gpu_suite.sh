#!/usr/bin/env bash
# The GPU checks of issues 15 and 16 as one script, for a lent GPU machine (the `device` tool) or any CUDA box.
#
#   1. benchmarks/cv_speed.py --device cuda: a 3-fold candidate batched against sequential;
#   2. `fitguard doctor --device cuda` on digits 10% (${DIGITS_BUDGET} s): its folds grouped on the GPU;
#   3. benchmarks/gpu.py: the Trainer against a raw bf16 + channels_last loop on the CIFAR-10 CNN (images/s);
#   4. benchmarks/overhead.py --device cuda: Trainer + EarlyStopping + Checkpoint/epoch + JSONL against a raw loop;
#   5. `fitguard doctor` from scratch on CIFAR-10 100/class (first 100 training images a class), scored on the
#      10,000 official test images, with what is left of TOTAL seconds (at most DOCTOR_BUDGET) as its budget;
#   6. benchmarks/cv_speed.py --grid --device cuda on digits 10%, where time is left after 5: the L2 grid's
#      strengths as sibling members against one strength at a time (session 27; never measured on a GPU).
#
# It reads its data from .gpu/ (git-ignored; the device machine sees only the repository):
#   .gpu/cifar10-train-100.zip  the first 100 images (by file name) of each class of cifar10-train.zip
#   .gpu/cifar10-test.zip       ../shared/data/cifar10-test.zip
#   .gpu/fashion/               Fashion-MNIST IDX files: the first 1,110 training rows (100 a class) + the test set
# and, where the machine lacks them, wheels from .whl/ (kornia, optuna, pydantic, ...). Every step writes into
# $OUT as it ends, so a step that fails or a run cut short still returns the steps before it.
#
# usage: OUT=/tmp/out bash benchmarks/gpu_suite.sh              (on the GPU machine)
#        OUT=/tmp/out DEVICE=cpu SMOKE=1 bash benchmarks/gpu_suite.sh   (a dry run of every step, here)
set -u
export PYTHONUNBUFFERED=1 COLUMNS=150
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
DOCTOR_BUDGET=${DOCTOR_BUDGET:-240}  # CIFAR-10's, at most: it gets what is left of TOTAL
DIGITS_BUDGET=${DIGITS_BUDGET:-45}
TOTAL=${TOTAL:-570}
PY=${PY:-python3}
OUT=${OUT:?set OUT to the folder that receives the results}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1 && ! $PY -c "import kornia, optuna, pydantic" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d .gpu/fashion ]; then
    mkdir -p /usr/share/datasets && cp -r .gpu/fashion /usr/share/datasets/fashion-mnist
fi
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; $PY -c \
    "import torch, fitguard; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())") \
    > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its log
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%T))"
    local started=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "== $name: exit $rc after $((SECONDS - started)) s"
}

if [ "$SMOKE" = 1 ]; then
    DOCTOR_BUDGET=30; DIGITS_BUDGET=20; limit=(--limit 20); quick=(--quick); epochs=(--epochs 2 --no-compile); repeats=(--repeats 3 --fits 1 --epochs 2)
else
    limit=(); quick=(--rounds 2); epochs=(--epochs 6); repeats=(--repeats 3 --fits 2)
fi
rm -rf /tmp/fg-gpu-runs
doctor() {  # doctor NAME BUDGET ARGS...: fitguard doctor on the device, its summary copied to $OUT
    local name=$1 budget=$2
    shift 2
    step "$name" $((budget + 60)) $PY -c "import sys; from fitguard.cli import main; sys.exit(main())" doctor "$@" \
        --budget "$budget" --device "$DEVICE" --out "/tmp/fg-gpu-runs/$name"
    cp "/tmp/fg-gpu-runs/$name/summary.json" "$OUT/${name}_summary.json" 2>/dev/null
}
step cv_speed 150 $PY benchmarks/cv_speed.py --device "$DEVICE" "${quick[@]}" --out "$OUT/cv_speed.json"
doctor doctor_digits "$DIGITS_BUDGET" --data digits --train-fraction 0.1
step gpu_cnn 150 $PY benchmarks/gpu.py --zip .gpu/cifar10-test.zip --device "$DEVICE" "${epochs[@]}" "${limit[@]}" \
    --out "$OUT/gpu.json"
step overhead 120 $PY benchmarks/overhead.py --device "$DEVICE" "${repeats[@]}" --out "$OUT/overhead.json"
# the rest of the run's time (the device tool's command limit is 600 s; installs and the steps above came first)
budget=$((TOTAL - SECONDS - 20))
[ "$budget" -gt "$DOCTOR_BUDGET" ] && budget=$DOCTOR_BUDGET
if [ "$budget" -ge 30 ]; then
    doctor doctor_cifar "$budget" --data .gpu/cifar10-train-100.zip --data-option limit_per_class=100 \
        --test-data .gpu/cifar10-test.zip
else
    echo "== doctor_cifar: skipped, $budget s left"
fi
left=$((TOTAL - SECONDS - 10))
if [ "$left" -ge 45 ]; then
    step cv_speed_grid "$left" $PY benchmarks/cv_speed.py --grid --device "$DEVICE" --datasets 'digits 10%' \
        --schedules fixed "${quick[@]}" --out "$OUT/cv_speed_siblings.json"
else
    echo "== cv_speed_grid: skipped, $left s left"
fi
echo "== done ($(date -u +%T), $SECONDS s)"
