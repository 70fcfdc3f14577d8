# Sourced by the scripts/gpu-*-check.sh scripts on the accelerator machine: unpacks the carried
# binary ($BIN.gz or $BIN.xz), installs the carried Vulkan loader and glvnd debs (.gl/), points
# Vulkan at NVIDIA's driver and CUDA builds at NVRTC and the CUDA headers.
unpack() { # $1 = binary path; unpacks $1.gz or $1.xz next to it unless $1 exists
    [ -e "$1" ] && return 0
    if [ -e "$1.gz" ]; then
        gunzip -k "$1.gz"
    elif [ -e "$1.xz" ]; then
        xz -dk "$1.xz" 2>/dev/null || python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1.xz" "$1"
    fi
    [ -e "$1" ] && chmod +x "$1"
}
unpack "$BIN"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig 2>/dev/null
[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# Max abs diff of the tiny model's text embeddings written by `embed-text` ($1, .npy) from
# transformers' (tests/reference/clip-tiny), labelled with the device name $2; fails (status 1)
# above $3 (default 1e-4, the CPU parity test's tolerance).
tiny_text_diff() {
    python3 - "$1" "$2" "${3:-1e-4}" <<'PY'
import sys
import numpy as np
from safetensors.numpy import load_file
ours = np.load(sys.argv[1])
ref = load_file("tests/reference/clip-tiny/expected.safetensors")["text_embeds"]
d, tol = float(np.abs(ours - ref).max()), float(sys.argv[3])
print(f"{'ok' if d <= tol else 'FAIL'}: text embeddings on {sys.argv[2]}: max abs diff {d:.2e} (tolerance {tol:.0e})")
sys.exit(0 if d <= tol else 1)
PY
}
# Runs a check, remembers a failure in $FAILED and goes on (the scripts exit 1 at the end).
FAILED=""
check() {
    "$@" || FAILED="$FAILED
  $*"
}
finish() {
    if [ -n "$FAILED" ]; then
        echo "FAILED checks:$FAILED"
        exit 1
    fi
    echo "all device checks passed"
}
# CUDA builds (`--device cuda`): the NVRTC build compiles its kernels at run time, which needs
# libnvrtc and the CUDA headers (cuda_fp16.h, mma.h, ...). Without a toolkit in /usr/local/cuda,
# take both from the NVIDIA wheels that PyTorch installs (nvidia/*/lib, nvidia/*/include).
if [ -d /usr/local/cuda/lib64 ]; then
    export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [ -z "${CUDA_PATH:-}" ] && [ ! -e /usr/local/cuda/include/cuda_fp16.h ]; then
    NV=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)
    if [ -n "$NV" ]; then
        inc=$(find "$NV" -name cuda_fp16.h -path '*include*' 2>/dev/null | head -1)
        [ -n "$inc" ] && export CUDA_PATH=$(dirname "$(dirname "$inc")")
        rtc=$(find "$NV" -name 'libnvrtc.so*' ! -name '*alt*' ! -name '*builtins*' 2>/dev/null | head -1)
        if [ -n "$rtc" ]; then
            mkdir -p /tmp/ssr2-cudalib && ln -sf "$rtc" /tmp/ssr2-cudalib/libnvrtc.so
            export LD_LIBRARY_PATH=/tmp/ssr2-cudalib:$(dirname "$rtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        fi
    fi
fi
