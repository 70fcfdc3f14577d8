# Sourced by the scripts/gpu-*-check.sh scripts on the accelerator machine: unpacks the carried
# binary ($BIN.gz), installs the carried Vulkan loader and glvnd debs (.gl/) and points Vulkan at
# NVIDIA's driver.
[ -e "$BIN.gz" ] && [ ! -e "$BIN" ] && gunzip -k "$BIN.gz"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig 2>/dev/null
[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# CUDA build (`--device cuda`): Burn compiles its kernels with NVRTC at run time, which needs
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
