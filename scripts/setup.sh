#!/usr/bin/env bash
# One-time, idempotent set-up of the native libraries chernet builds against.
#
#   * OpenBLAS (Debian's libopenblas-dev) for ndarray-linalg's `openblas-system` backend.
#   * libtorch 2.13.0 (what tch 0.26 requires), CPU part only, unpacked from the hash-pinned PyPI
#     `torch` wheel into the git-ignored folder .libtorch/ (PyPI is the only reachable source of it).
#   * With CHERNET_TORCH=cuda instead: the same libtorch 2.13.0 with its CUDA part and the CUDA 13
#     libraries it needs (the nvidia-* wheels that torch 2.13.0's metadata pins, hash-pinned here too)
#     in the separate git-ignored folder .libtorch-cuda/ (about 3.7 GB), plus .libtorch-cuda/env.sh,
#     which points cargo at it. The CPU set-up in .libtorch/ is left as it is.
#
# A second run checks what is there and returns in well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LT="$ROOT/.libtorch"
TORCH_VERSION="2.13.0"
# Wheels pinned by exact file (platform and python tags) and sha256.
TORCH_WHEEL="torch==${TORCH_VERSION} --hash=sha256:60fcdcb2f3876e21146cb4524ef06397d727ca9ad5f020818547e25075fe3cb7"
CUDART_WHEEL="nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
CUPTI_WHEEL="nvidia-cuda-cupti==13.0.85 --hash=sha256:4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8"

CHERNET_TORCH="${CHERNET_TORCH:-cpu}"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

need_free_mb() { # need_free_mb DIR MB WHAT
  local avail
  avail=$(df -Pm "$1" | awk 'NR==2 {print $4}')
  if [ "${avail:-0}" -lt "$2" ]; then
    die "$3 needs about $2 MB free in $1, only ${avail} MB available. Free some disk space and rerun."
  fi
}

case "$CHERNET_TORCH" in
  cpu | cuda) ;;
  *) die "CHERNET_TORCH=$CHERNET_TORCH is not a libtorch variant: use cpu (the default) or cuda." ;;
esac

# ---------------------------------------------------------------- OpenBLAS
openblas_present() {
  # The linker needs the unversioned development symlink, not only the runtime library.
  ls /usr/lib/*/libopenblas.so >/dev/null 2>&1 || ls /usr/lib/libopenblas.so >/dev/null 2>&1
}
if ! openblas_present; then
  say "installing libopenblas-dev (LAPACK for ndarray-linalg) with apt-get"
  command -v apt-get >/dev/null || die "libopenblas-dev is missing and apt-get is not available; install OpenBLAS (with its development symlink libopenblas.so) by other means."
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "libopenblas-dev is missing and installing it needs root (no sudo found)."
    SUDO="sudo"
  fi
  need_free_mb / 200 "libopenblas-dev"
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev >/dev/null 2>&1 \
    || die "apt-get install libopenblas-dev failed"
  openblas_present || die "libopenblas-dev installed but libopenblas.so not found"
fi

# ---------------------------------------------------------------- libtorch
find_python() {
  PY=""
  for p in python3 python; do command -v "$p" >/dev/null && { PY="$p"; break; }; done
  [ -n "$PY" ] || die "python3 is needed to fetch libtorch from PyPI and was not found."
  "$PY" -m pip --version >/dev/null 2>&1 \
    || die "pip is not available for $PY ($PY -m pip failed); install pip (e.g. apt-get install python3-pip) and rerun."
}

if [ "$CHERNET_TORCH" = cuda ]; then
  # shellcheck source=scripts/setup-cuda.sh
  . "$ROOT/scripts/setup-cuda.sh"
  exit 0
fi

libtorch_ok() {
  [ -f "$LT/torch/build-version" ] && [ -f "$LT/torch/lib/libtorch_cpu.so" ] \
    && [ -f "$LT/torch/lib/libtorch.so" ] && [ -d "$LT/torch/include/torch" ] \
    && ls "$LT"/nvidia/cu13/lib/libcudart.so.13 >/dev/null 2>&1
}
if [ -f "$LT/torch/build-version" ]; then
  found="$(tr -d '[:space:]' < "$LT/torch/build-version")"
  if [ "$found" != "$TORCH_VERSION" ]; then
    die "$LT holds libtorch $found but tch 0.26 needs exactly $TORCH_VERSION. Remove the folder (rm -rf .libtorch) and rerun; it will be fetched again (~530 MB download)."
  fi
fi
if ! libtorch_ok; then
  say "installing libtorch $TORCH_VERSION (CPU libraries from the PyPI torch wheel) into .libtorch/"
  find_python
  mkdir -p "$LT"
  need_free_mb "$LT" 1600 "libtorch (530 MB wheel + 490 MB unpacked)"
  rm -rf "$LT/.download" "$LT/.staging"
  mkdir -p "$LT/.download" "$LT/.staging"
  req="$LT/.download/requirements.txt"
  printf '%s\n%s\n%s\n' "$TORCH_WHEEL" "$CUDART_WHEEL" "$CUPTI_WHEEL" > "$req"
  "$PY" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 --platform manylinux_2_17_x86_64 \
      --python-version 3.11 --implementation cp --abi cp311 --abi none \
      -r "$req" -d "$LT/.download" \
    || die "pip download of the torch $TORCH_VERSION wheel failed (is PyPI reachable? does the hash still match?)"
  "$PY" - "$LT/.download" "$LT/.staging" <<'PYEOF'
import sys, zipfile, glob, os
src, dst = sys.argv[1], sys.argv[2]
cuda_libs = ("libtorch_cuda", "libc10_cuda", "libtorch_nvshmem", "libcaffe2_nvrtc",
             "libtorch_python", "libtorch_global_deps")
for whl in sorted(glob.glob(os.path.join(src, "*.whl"))):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            name = info.filename
            if os.path.basename(whl).startswith("torch-"):
                if not (name.startswith("torch/lib/") or name.startswith("torch/include/")):
                    continue
                if name.startswith("torch/lib/") and os.path.basename(name).startswith(cuda_libs):
                    continue
            elif not name.startswith("nvidia/"):
                continue
            z.extract(info, dst)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(os.path.join(dst, name), mode)
PYEOF
  # The wheel's libtorch.so is an empty shim that NEEDs libtorch_cuda.so: replace it by a CPU shim.
  command -v gcc >/dev/null || die "gcc is needed to build the CPU libtorch.so shim"
  ( cd "$LT/.staging/torch/lib" && rm -f libtorch.so \
    && gcc -shared -o libtorch.so -x c /dev/null -Wl,--no-as-needed -L. -ltorch_cpu -lc10 -Wl,-rpath,'$ORIGIN' ) \
    || die "building the CPU libtorch.so shim failed"
  echo "$TORCH_VERSION" > "$LT/.staging/torch/build-version"
  rm -rf "$LT/torch" "$LT/nvidia"
  mv "$LT/.staging/torch" "$LT/torch"
  mv "$LT/.staging/nvidia" "$LT/nvidia"
  rm -rf "$LT/.download" "$LT/.staging"
  libtorch_ok || die "libtorch unpacked but incomplete in $LT"
  say "libtorch $TORCH_VERSION ready in .libtorch/torch ($(du -sm "$LT" | cut -f1) MB)"
fi
