#!/usr/bin/env bash
# Checks the set-up from cold: tools/bootstrap.sh on a fresh clone with no wheel cache anywhere (no ../shared beside
# it, an empty HOME, no MMSEG_CODE_WHEELS), so mmcv 2.1.0 is compiled from source with the pinned build tools.
# The build runs only when the set-up's inputs (`bash tools/bootstrap.sh --inputs-hash`: tools/bootstrap.sh,
# requirements/*.txt, setup.py, pyproject.toml) differ from those recorded in .ci/cold_setup.sha256 at the last cold
# build that passed; after a pass it records the new hash there (commit that file). CI runs it after the suite.
#
#   bash tools/cold_check.sh             # cold build if the inputs changed since the recorded one
#   bash tools/cold_check.sh --dry-run   # only say whether a cold build is due
#   bash tools/cold_check.sh --force     # cold build now (e.g. to re-measure it) and record it
#
# The fresh clone is `git clone` of this checkout's HEAD, so changes to the inputs must be committed first.
# Cost: torch + the mmcv compile, ~15 min on 2 idle cores (159 min measured at load 5.5), and ~6 GB under
# ${TMPDIR:-/tmp}, removed afterwards (KEEP=1 keeps the clone, its .venv and the empty HOME for a look).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RECORD=.ci/cold_setup.sha256
log() { printf '[cold-check] %s\n' "$*"; }
die() { printf '[cold-check] error: %s\n' "$*" >&2; exit 1; }

MODE=auto
case "${1:-}" in
  --dry-run) MODE=dry ;;
  --force) MODE=force ;;
  "") ;;
  *) die "unknown option '$1' (use --dry-run, --force or nothing)" ;;
esac

CURRENT="$(bash tools/bootstrap.sh --inputs-hash)"
RECORDED="$(grep -m1 -E '^[0-9a-f]{64}$' "$RECORD" 2>/dev/null || true)"
if [ "$MODE" != force ] && [ "$CURRENT" = "$RECORDED" ]; then
  log "set-up inputs unchanged since the last cold build that passed ($CURRENT): nothing to do"
  exit 0
fi
if [ "$MODE" = dry ]; then
  log "set-up inputs changed (now $CURRENT, recorded ${RECORDED:-none}): a cold build is due"
  exit 0
fi

git rev-parse --git-dir >/dev/null 2>&1 || die "$ROOT is not a git checkout: the cold build clones its HEAD"
INPUTS=(tools/bootstrap.sh setup.py pyproject.toml requirements)
if [ -n "$(git status --porcelain --untracked-files=all -- "${INPUTS[@]}")" ]; then
  die "the set-up's inputs have uncommitted changes and the cold build clones HEAD: commit them first"
fi
COMMIT="$(git rev-parse HEAD)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/mmseg-code-cold.XXXXXX")"
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
CLONE="$TMP/mmseg-code"
mkdir "$TMP/home"
git clone -q --no-checkout "$ROOT" "$CLONE"
git -C "$CLONE" checkout -q --detach "$COMMIT"
# A new user: nothing beside the clone, an empty HOME (no pip cache, no ~/.cache/mmseg_code), no cache variables.
COLD=(env -u MMSEG_CODE_WHEELS -u PIP_CACHE_DIR -u XDG_CACHE_HOME -u XDG_CONFIG_HOME -u PYTHONPATH
      -u VIRTUAL_ENV HOME="$TMP/home")

log "cold set-up of $COMMIT in $CLONE (HOME=$TMP/home, no wheel cache), $(nproc) cores"
( while :; do cut -d' ' -f1 /proc/loadavg >> "$TMP/load"; sleep 30; done ) &
SAMPLER=$!
START=$(date +%s)
(cd "$CLONE" && "${COLD[@]}" bash tools/bootstrap.sh) \
  || die "cold set-up failed (fresh clone of $COMMIT, no wheel cache)"
SECONDS_TAKEN=$(( $(date +%s) - START ))
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
LOAD="$(awk '{s+=$1; if ($1>m) m=$1} END {printf "mean %.1f, max %.1f", s/NR, m}' "$TMP/load")"
TIME="$((SECONDS_TAKEN / 60)) min $((SECONDS_TAKEN % 60)) s"
log "cold set-up took $TIME (1-min load average while it ran: $LOAD)"

# It really compiled mmcv (the wheel it built is in the new user's cache), and the result works.
ls "$TMP"/home/.cache/mmseg_code/wheels/torch-*/mmcv-2.1.0-*.whl >/dev/null 2>&1 \
  || die "no mmcv wheel was compiled into the empty HOME's cache"
(
  cd "$CLONE"
  "${COLD[@]}" .venv/bin/python -c "import mmseg_code, mmseg.models, mmseg.apis; from mmcv.ops import nms"
  "${COLD[@]}" bash tools/bootstrap.sh | grep -q 'environment up to date' \
    || { echo "a second bootstrap run did not find the environment up to date" >&2; exit 1; }
  "${COLD[@]}" OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_plugin_registration.py \
    tests/test_install/test_mmseg_scope_config.py
) || die "the cold environment does not pass its checks"

[ "$(cd "$CLONE" && bash tools/bootstrap.sh --inputs-hash)" = "$CURRENT" ] \
  || die "the clone's inputs hash differs from this checkout's (ignored files under requirements/?)"
PY_VERSION="$("$CLONE/.venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
cat > "$RECORD" <<EOF
# Hash of the set-up's inputs (\`bash tools/bootstrap.sh --inputs-hash\`) at the last cold build that passed
# \`bash tools/cold_check.sh\` (fresh clone, no ../shared, empty HOME: mmcv compiled from source). CI repeats that
# build whenever the inputs' hash differs from the line below; a pass rewrites this file.
# verified $(date -u +%Y-%m-%d) on commit ${COMMIT:0:12}: Python $PY_VERSION, $(nproc) cores, cold set-up $TIME
# (1-min load average while it ran: $LOAD)
$CURRENT
EOF
log "passed; recorded $CURRENT in $RECORD (commit it)"
