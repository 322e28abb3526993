#!/usr/bin/env bash
# One venv builder for every comparison script in benches/compare/: makes the git-ignored DIR/.venv
# from PyPI (nothing else is downloaded) and is idempotent: a venv that already passes CHECK is left alone.
#
#   bash benches/compare/venv.sh DIR CHECK [--disk-mb MB] PACKAGE...
#
# DIR      the comparison's folder (the venv goes to DIR/.venv)
# CHECK    Python statements that succeed once the venv is complete (imports, version assertions)
# --disk-mb  free space to require first: every Linux torch wheel on PyPI is a CUDA build and
#          `pip install torch` pulls about 3 GB of nvidia wheels (venv ~5 GB), so torch users ask for 8000
# PACKAGE  pip requirement specifiers, pinned where the recorded numbers depend on them
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: venv.sh DIR CHECK [--disk-mb MB] PACKAGE..." >&2
  exit 2
fi
dir="$(cd "$1" && pwd)"
check="$2"
shift 2
disk_mb=0
if [ "${1:-}" = "--disk-mb" ]; then
  disk_mb="$2"
  shift 2
fi
venv="$dir/.venv"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  exit 0
fi
avail=$(df -Pm "$dir" | awk 'NR==2 {print $4}')
if [ "${avail:-0}" -lt "$disk_mb" ]; then
  echo "venv.sh: need about $disk_mb MB free in $dir, only ${avail} MB" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$@"
if ! "$venv/bin/python" -c "$check"; then
  echo "venv.sh: $venv was built but fails its check: $check" >&2
  exit 1
fi
echo "venv.sh: $venv ready ($*)" >&2
