#!/usr/bin/env bash
# Set up (or check) the environment of mmseg-code. Idempotent: a re-run with nothing changed takes seconds.
#
#   bash tools/bootstrap.sh            # creates ./.venv (Python >= 3.9; 3.11 is what the pins are tested on)
#   bash tools/bootstrap.sh --system   # installs into the active Python environment instead
#   bash tools/bootstrap.sh --inputs-hash   # prints the hash of this set-up's inputs (see tools/cold_check.sh)
#
# Steps: torch/torchvision (requirements/build.txt) -> full mmcv 2.1.0 with compiled ops, from a wheel cache
# when one has it, else compiled once and stored in the cache -> `pip install -e .[tests]`.
# Wheel caches searched, in order: $MMSEG_CODE_WHEELS, ~/.cache/mmseg_code/wheels, ../shared/wheels.
# Other knobs: PYTHON (interpreter used to create .venv), MAX_JOBS (parallel compile jobs, default: cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

# Everything the set-up depends on: this script, the requirement files (the pinned build tools included) and
# the packaging files. One line per file, `sha256sum` format, in C-locale path order, hashed again.
inputs_hash() {
  local f
  for f in tools/bootstrap.sh setup.py pyproject.toml requirements/*.txt; do [ -f "$f" ] && echo "$f"; done \
    | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1
}

MODE=venv
case "${1:-}" in
  --system) MODE=system ;;
  --inputs-hash) inputs_hash; exit 0 ;;
  "") ;;
  *) die "unknown option '$1' (use --system, --inputs-hash or nothing)" ;;
esac

if [ "$MODE" = venv ]; then
  if [ ! -x .venv/bin/python ]; then
    BASE_PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    log "creating .venv with $BASE_PY"
    "$BASE_PY" -m venv .venv
  fi
  PY="$ROOT/.venv/bin/python"
else
  PY="$(command -v python)"
fi
PIP=("$PY" -m pip --disable-pip-version-check)

# Unchanged inputs + the same Python + a working import = nothing to do.
STAMP_DIR="$("$PY" -c 'import sys; print(sys.prefix)')"
STAMP="$STAMP_DIR/.mmseg_code_bootstrap"
INPUTS_HASH="$(inputs_hash)-$("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INPUTS_HASH" ] \
   && "$PY" -c "import mmseg_code, mmseg.models, mmseg.apis; from mmcv.ops import nms" >/dev/null 2>&1; then
  log "environment up to date ($PY)"
  exit 0
fi

log "installing torch/torchvision (requirements/build.txt)"
"${PIP[@]}" install -q -r requirements/build.txt

TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
USER_CACHE="${HOME}/.cache/mmseg_code/wheels/torch-${TORCH_VERSION}"
mmcv_ok() { "$PY" -c "import mmcv; from mmcv.ops import nms; assert mmcv.__version__ == '2.1.0'" >/dev/null 2>&1; }

if mmcv_ok; then
  log "mmcv 2.1.0 with ops already installed"
else
  # An mmcv without compiled ops (mmcv-lite, or a build that skipped them) must go first, or pip keeps it.
  if "${PIP[@]}" show mmcv >/dev/null 2>&1 || "${PIP[@]}" show mmcv-lite >/dev/null 2>&1; then
    log "removing the installed mmcv (no compiled ops or another version)"
    "${PIP[@]}" uninstall -q -y mmcv mmcv-lite || true
  fi
  # A cached wheel only matches the torch it was built against: the user cache is keyed by torch
  # version; ../shared/wheels holds a build for torch 2.14.1 (see its README).
  CANDIDATES=()
  [ -n "${MMSEG_CODE_WHEELS:-}" ] && CANDIDATES+=("$MMSEG_CODE_WHEELS")
  CANDIDATES+=("$USER_CACHE")
  [ "$TORCH_VERSION" = "2.14.1" ] && CANDIDATES+=("$ROOT/../shared/wheels")
  for dir in "${CANDIDATES[@]}"; do
    if [ -d "$dir" ] && ls "$dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
      log "installing mmcv 2.1.0 from wheel cache $dir"
      # --only-binary: the cached wheel, never PyPI's sdist; its dependencies (mmengine, addict, ...) from PyPI.
      if "${PIP[@]}" install -q --only-binary mmcv --find-links "$dir" mmcv==2.1.0 && mmcv_ok; then break; fi
      log "wheel in $dir did not work here; trying the next source"
    fi
  done
fi

if ! mmcv_ok; then
  # PyPI has only the mmcv 2.1.0 sdist. Build it against the installed torch: torch>=2.4 headers need
  # C++20 while mmcv's setup.py hard-codes -std=c++17, and its setup.py needs pkg_resources
  # (setuptools<70). The build tools, each an exact file (requirements/mmcv_build.txt), are put on
  # PYTHONPATH for this build only.
  log "no usable mmcv wheel cached: compiling mmcv 2.1.0 with ops (about 13 min on 2 cores, once)"
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  "${PIP[@]}" install -q --require-hashes --only-binary :all: --target "$BUILD/buildtools" \
    -r requirements/mmcv_build.txt \
    || die "could not install the pinned mmcv build tools of requirements/mmcv_build.txt (pip's message above)"
  PATH="$BUILD/buildtools/bin:$PATH" PYTHONPATH="$BUILD/buildtools" \
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation -r requirements/mmcv_source.txt \
    -d "$BUILD/src" || die "could not download the mmcv 2.1.0 source release of requirements/mmcv_source.txt"
  tar -xzf "$BUILD"/src/mmcv-2.1.0.tar.gz -C "$BUILD/src"
  sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/src/mmcv-2.1.0/setup.py"
  mkdir -p "$USER_CACHE"
  PATH="$BUILD/buildtools/bin:$PATH" PYTHONPATH="$BUILD/buildtools" \
    MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" wheel --no-build-isolation --no-deps "$BUILD/src/mmcv-2.1.0" -w "$USER_CACHE" \
    || die "the mmcv 2.1.0 compile failed (compiler output above)"
  "${PIP[@]}" install -q --only-binary mmcv --find-links "$USER_CACHE" mmcv==2.1.0
  mmcv_ok || die "mmcv 2.1.0 was built but 'from mmcv.ops import nms' fails"
  log "mmcv wheel cached in $USER_CACHE"
fi

log "installing mmseg-code and its dependencies (pip install -e .[tests])"
"${PIP[@]}" install -q -e ".[tests]"
"$PY" -c "import mmseg_code, mmseg.models, mmseg.apis; from mmcv.ops import nms"
echo "$INPUTS_HASH" > "$STAMP"
log "ready: $PY"
