#!/usr/bin/env bash
# One lent GPU's checks, as one short script (repository root; results in $OUT):
#   1. speed on an idle GPU: the encoder (bench_encoder.py, CPU and CUDA) and the interest head
#      (bench_head_device.py: CPU / CUDA in one process);
#   2. the real-data benchmark's encoders trained on the GPU (train_real_data_encoders.py, EPOCHS
#      on gz1 and SMALL_EPOCHS on the small sets), with the CUDA tests running beside them;
#   3. the trained encoders, without optimiser state, packed into $OUT for real_data.py to evaluate
#      on a CPU machine (same --epochs / --small-epochs, --work-dir where they are unpacked).
# The GPU machine has torch, numpy, pandas, pyarrow, scikit-learn, scipy and Pillow; it needs
# ../shared/data (gz1_sdss, decals_rings, gz_answer_examples): a copy in .devdata/shared/data is
# linked there when ../shared is absent.
set -u
OUT=${OUT:-/tmp/gpu_out}
EPOCHS=${EPOCHS:-200}
SMALL_EPOCHS=${SMALL_EPOCHS:-500}
TRAIN_LIMIT=${TRAIN_LIMIT:-330}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
mkdir -p "$OUT"
if [ ! -d ../shared/data ] && [ -d .devdata/shared/data ]; then ln -s "$PWD/.devdata/shared" ../shared; fi
R="$OUT/report.txt"  # $OUT takes at most 8 files: the speed tables and steps go here
stamp() { echo "[$(date +%T)] $*" | tee -a "$R"; }

stamp start
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$R"
$PY -c "import torch, PIL, os; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'Pillow', PIL.__version__, 'cores', os.cpu_count())" | tee -a "$R"

if [ "${SPEED:-1}" = 1 ]; then
    stamp "1. speed"
    timeout 90 $PY benchmarks/bench_encoder.py --device cuda 2>&1 | tee -a "$R"
    timeout 60 $PY benchmarks/bench_encoder.py --device cpu --n 1024 --threads 1 16 2>&1 | tee -a "$R"
fi
timeout 90 $PY benchmarks/bench_head_device.py 2>&1 | tee -a "$R"

stamp "2. encoders ($EPOCHS / $SMALL_EPOCHS epochs) and CUDA tests"
timeout "$TRAIN_LIMIT" $PY benchmarks/train_real_data_encoders.py --epochs "$EPOCHS" --small-epochs "$SMALL_EPOCHS" \
    --processes 9 --work-dir /tmp/rd > "$OUT/train.log" 2>&1 &
train=$!
timeout 240 $PY -m pytest -q -p no:cacheprovider ${TESTS:-tests/test_gpu.py tests/test_encoder.py tests/test_head.py \
    tests/test_embed_cli_output.py} > "$OUT/pytest.txt" 2>&1
stamp "pytest rc $?"
tail -15 "$OUT/pytest.txt"
wait $train
stamp "training rc $?"
grep -v '^ ' "$OUT/train.log" | tail -12

stamp "3. pack (the encoders that finished, even where training ran out of time)"
$PY benchmarks/train_real_data_encoders.py --epochs "$EPOCHS" --small-epochs "$SMALL_EPOCHS" --work-dir /tmp/rd \
    --export /tmp/rd_export --export-only >> "$R" 2>&1
cp /tmp/rd_export/summary.json "$OUT/"
(cd /tmp/rd_export || exit; tar czf "$OUT/gz1_encoders.tgz" gz1_*.pt; tar czf "$OUT/small_encoders.tgz" rings_*.pt examples_*.pt)
ls -la "$OUT"
stamp done
