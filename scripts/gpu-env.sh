# Sourced by the scripts/gpu-*-check.sh scripts on the accelerator machine: unpacks the carried
# binary ($BIN.gz), installs the carried Vulkan loader and glvnd debs (.gl/) and points Vulkan at
# NVIDIA's driver.
[ -e "$BIN.gz" ] && [ ! -e "$BIN" ] && gunzip -k "$BIN.gz"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig 2>/dev/null
[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
