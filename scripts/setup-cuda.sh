# The CUDA variant of the libtorch set-up; sourced by scripts/setup.sh when CHERNET_TORCH=cuda
# (it uses ROOT, TORCH_VERSION, TORCH_WHEEL, say, die, need_free_mb and find_python from there).
#
# Installs libtorch 2.13.0 with its CUDA part (libtorch_cuda, libc10_cuda, ...) and the CUDA 13
# libraries it loads into .libtorch-cuda/torch/lib, one flat folder: the torch libraries find the
# CUDA ones there through their own rpath ($ORIGIN), and one run-time path in the binary finds
# libtorch itself. The wheels are the ones torch 2.13.0's metadata requires on Linux: its direct pins
# (cuDNN, cuSPARSELt, NCCL, NVSHMEM) and the members of cuda-toolkit[...]==13.0.3 that it names
# (nvJitLink, which the toolkit bounds to >=13.0.88,<14, pinned to 13.0.88, the toolkit's own).
# Each is downloaded, checked against its sha256 and unpacked one at a time, so the disk holds at
# most one wheel beside the growing folder.
#
# Then .libtorch-cuda/env.sh sets, for cargo:
#   LIBTORCH          the CUDA libtorch: torch-sys compiles against its headers and links it, and
#                     the build scripts of chernet and gauge-nn then link libtorch_cuda with
#                     --no-as-needed (nothing in tch calls into it directly, so the linker would
#                     drop it, and without it loaded libtorch sees no CUDA);
#   RUSTFLAGS         a run-time path to .libtorch-cuda/torch/lib (in place of the one to
#                     .libtorch/ that .cargo/config.toml sets);
#   CARGO_TARGET_DIR  target-cuda/ unless already set, so that the CPU build in target/ stays valid.

LTC="$ROOT/.libtorch-cuda"
# Wheels pinned by exact file (platform tag) and sha256: `pip download --require-hashes` checks them.
CUDA_WHEELS=(
  "nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  "nvidia-cuda-cupti==13.0.85 --hash=sha256:4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8"
  "nvidia-cuda-nvrtc==13.0.88 --hash=sha256:ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575"
  "nvidia-nvjitlink==13.0.88 --hash=sha256:13a74f429e23b921c1109976abefacc69835f2f433ebd323d3946e11d804e47b"
  "nvidia-nvtx==13.0.85 --hash=sha256:4936d1d6780fbe68db454f5e72a42ff64d1fd6397df9f363ae786930fd5c1cd4"
  "nvidia-cublas==13.1.1.3 --hash=sha256:37936a16db8fe4ac1f065c2139360608a543a09275cb1a1af612e08cfa065436"
  "nvidia-cufft==12.0.0.61 --hash=sha256:6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3"
  "nvidia-cufile==1.15.1.6 --hash=sha256:08a3ecefae5a01c7f5117351c64f17c7c62efa5fffdbe24fc7d298da19cd0b44"
  "nvidia-curand==10.4.0.35 --hash=sha256:1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc"
  "nvidia-cusolver==12.0.4.66 --hash=sha256:0a759da5dea5c0ea10fd307de75cdeb59e7ea4fcb8add0924859b944babf1112"
  "nvidia-cusparse==12.6.3.3 --hash=sha256:2b3c89c88d01ee0e477cb7f82ef60a11a4bcd57b6b87c33f789350b59759360b"
  "nvidia-cudnn-cu13==9.20.0.48 --hash=sha256:0c45dd8eeb50b603f07995b1b300c62ffe6a1980482b82b3bcf94a4ca9d49304"
  "nvidia-cusparselt-cu13==0.8.1 --hash=sha256:786ce87568c303fadb5afcc7102d454cd3040d75f6f8626f5db460d1871f4dd0"
  "nvidia-nccl-cu13==2.29.7 --hash=sha256:edd81538446786ec3b73972543e53bb43bcaf0bfc8ef76cb679fcc390ffe136d"
  "nvidia-nvshmem-cu13==3.4.5 --hash=sha256:290f0a2ee94c9f3687a02502f3b9299a9f9fe826e6d0287ee18482e78d495b80"
)
# Libraries whose absence means an incomplete install (libtorch_cuda's direct dependencies).
CUDA_NEEDED=(libtorch_cpu.so libtorch_cuda.so libc10_cuda.so libtorch.so libcudart.so.13
  libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcufft.so.12 libcurand.so.10
  libcusparse.so.12 libcusparseLt.so.0 libnccl.so.2 libcufile.so.0 libcupti.so.13)

libtorch_cuda_ok() {
  [ -f "$LTC/torch/build-version" ] && [ -d "$LTC/torch/include/torch" ] && [ -f "$LTC/env.sh" ] \
    || return 1
  local f
  for f in "${CUDA_NEEDED[@]}"; do [ -e "$LTC/torch/lib/$f" ] || return 1; done
}

if [ -f "$LTC/torch/build-version" ]; then
  found="$(tr -d '[:space:]' < "$LTC/torch/build-version")"
  if [ "$found" != "$TORCH_VERSION" ]; then
    die "$LTC holds libtorch $found but tch 0.26 needs exactly $TORCH_VERSION. Remove the folder (rm -rf .libtorch-cuda) and rerun."
  fi
fi
if libtorch_cuda_ok; then
  return 0
fi

say "installing libtorch $TORCH_VERSION with CUDA 13 (PyPI torch and nvidia-* wheels) into .libtorch-cuda/"
find_python
mkdir -p "$LTC"
need_free_mb "$LTC" 6000 "the CUDA libtorch (wheels fetched one at a time, about 3.7 GB unpacked)"
rm -rf "$LTC/.download" "$LTC/.staging"
mkdir -p "$LTC/.download" "$LTC/.staging/torch/lib"

fetch_and_unpack() { # fetch_and_unpack "NAME==VERSION --hash=sha256:..."
  local req="$LTC/.download/requirements.txt"
  printf '%s\n' "$1" > "$req"
  "$PY" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_25_x86_64 --platform manylinux_2_18_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
      --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
      --python-version 3.11 --implementation cp --abi cp311 --abi none \
      -r "$req" -d "$LTC/.download" \
    || die "pip download of ${1%% *} failed (is PyPI reachable? does the hash still match?)"
  "$PY" - "$LTC/.download" "$LTC/.staging" <<'PYEOF' || die "unpacking ${1%% *} failed"
import sys, zipfile, glob, os
src, dst = sys.argv[1], sys.argv[2]
lib = os.path.join(dst, "torch", "lib")
for whl in sorted(glob.glob(os.path.join(src, "*.whl"))):
    torch_wheel = os.path.basename(whl).startswith("torch-")
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            name = info.filename
            base = os.path.basename(name)
            if name.endswith("/"):
                continue
            if torch_wheel:
                # The C++ libraries and headers; libtorch_python needs libpython and is not used.
                keep = name.startswith("torch/include/") or (
                    name.startswith("torch/lib/") and not base.startswith("libtorch_python"))
                if not keep:
                    continue
                target = os.path.join(dst, name)
            else:
                # nvidia/<package>/lib/*.so*: flattened into torch/lib (static archives skipped).
                parts = name.split("/")
                if not (name.startswith("nvidia/") and len(parts) >= 3 and parts[-2] == "lib"
                        and ".so" in base):
                    continue
                target = os.path.join(lib, base)
                if os.path.exists(target):
                    sys.exit(f"two CUDA wheels ship {base}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as fin, open(target, "wb") as fout:
                while True:
                    chunk = fin.read(1 << 20)
                    if not chunk:
                        break
                    fout.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(target, mode or 0o644)
    os.remove(whl)
PYEOF
}

fetch_and_unpack "$TORCH_WHEEL"
for w in "${CUDA_WHEELS[@]}"; do
  say "  ${w%% *}"
  fetch_and_unpack "$w"
done
echo "$TORCH_VERSION" > "$LTC/.staging/torch/build-version"
rm -rf "$LTC/torch"
mv "$LTC/.staging/torch" "$LTC/torch"
rm -rf "$LTC/.download" "$LTC/.staging"

lib="$LTC/torch/lib"
cat > "$LTC/env.sh" <<EOF
# Written by scripts/setup.sh (CHERNET_TORCH=cuda). Source it to build chernet against the CUDA
# libtorch in this folder:  . .libtorch-cuda/env.sh && cargo run --release --example genet -- ...
export LIBTORCH="$LTC/torch"
export CARGO_TARGET_DIR="\${CARGO_TARGET_DIR:-$ROOT/target-cuda}"
export RUSTFLAGS="-C link-arg=-Wl,-rpath,$lib"
EOF
libtorch_cuda_ok || die "the CUDA libtorch was unpacked but is incomplete in $LTC"
say "libtorch $TORCH_VERSION with CUDA ready in .libtorch-cuda/ ($(du -sm "$LTC" | cut -f1) MB); build with: CHERNET_TORCH=cuda make demo, or . .libtorch-cuda/env.sh && cargo ..."
