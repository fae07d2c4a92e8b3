#!/usr/bin/env bash
# Runs the pipeline benchmark suite (benchmarks/run_all.py) on a lent GPU machine; results land in $OUT.
#
# Follows /work/shared/gpu/README.md. On your own machine, once, from the project root:
#     ../shared/gpu/prepare          # fills .gl/ (Vulkan/EGL loaders) and .whl/ (wgpu, av, soundfile ...)
# The GPU image already has numpy, scipy, pillow and click. Then call the device tool's run with
#     carry:   [".gl", ".whl"]
#     command: bash benchmarks/gpu_run.sh                      (the suite, sized for one 10-minute call)
#              bash benchmarks/gpu_run.sh --sizes 4k --out "$OUT/pipeline-4k.json"   (any run_all.py options)
#              bash benchmarks/gpu_run.sh --pointcloud [bench_pointcloud.py options]   (issue 6's 200x target)
# --pointcloud runs the point-cloud export against the matplotlib baseline (bench_pointcloud.py,
# into $OUT/pointcloud-gpu.json, which names the machine). It needs more packages than the suite
# (57 MB of wheels with these, within the 64 MiB that may travel): prepare with
#     GPU_WHEELS="wgpu rendercanvas av soundfile cffi pycparser typing-extensions freetype-py \
#                 matplotlib contourpy cycler fonttools kiwisolver pyparsing python-dateutil six \
#                 packaging" \
#         ../shared/gpu/prepare
# (OpenCV is not carried: the baseline then writes with FFmpeg's mpeg4 encoder through PyAV, the
# encoder OpenCV's mp4v uses, and the JSON says so.)
# What comes back in $OUT: pipeline-<machine>.json (written after every size, so a run cut short
# still returns what it finished), run_all.log, and gpu.txt (adapter, nvidia-smi). Copy the JSON
# into benchmarks/results/ and commit it with a reading in benchmarks/README.md.
#
# Without options the suite runs with --budget 1 --max-frames 240 (about 8 minutes on an H100 with
# 16 cores: the CPU encoder sets the pace, since these machines have no NVENC).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpurender-gpu-out}
mkdir -p "$OUT"

if [ ! -d .gl ] || [ ! -d .whl ]; then
    echo "gpu_run.sh: .gl/ or .whl/ is missing; run ../shared/gpu/prepare in the project root and carry both" >&2
    exit 2
fi

# Vulkan/EGL loaders, then the wheels the image lacks, imported from /tmp/site with the package from
# the source tree (it is not installed there).
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || {
    echo "gpu_run.sh: installing the carried wheels failed" >&2
    exit 3
}
export PYTHONPATH=/tmp/site:$PWD
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export PYTHONUNBUFFERED=1

# The adapter must be the NVIDIA GPU through Vulkan; llvmpipe here means the loader or ICD was not found.
python3 - <<'EOF' 2>&1 | tee "$OUT/gpu.txt"
import sys
import wgpu

info = wgpu.gpu.request_adapter_sync(power_preference="high-performance").info
print("adapter:", dict(info))
name = str(info.get("device", "")) + " " + str(info.get("vendor", ""))
nvidia = "nvidia" in name.lower() or info.get("vendor_id") == 0x10DE  # NVIDIA's PCI vendor id
if not nvidia or str(info.get("backend_type", "")).lower() != "vulkan":
    sys.exit("gpu_run.sh: the wgpu adapter is not the NVIDIA GPU on Vulkan (see above); "
             "check that .gl/ was carried and VK_DRIVER_FILES points at the NVIDIA ICD")
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 4
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$OUT/gpu.txt"
python3 -c "import av, numpy, scipy, soundfile; print('python', __import__('sys').version.split()[0], \
'| av', av.__version__, '| numpy', numpy.__version__, '| scipy', scipy.__version__)" 2>&1 | tee -a "$OUT/gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "gpu_run.sh: a Python package the suite needs is missing" >&2; exit 5; }

if [ "${1:-}" = "--pointcloud" ]; then
    shift
    python3 -c "import matplotlib, freetype" 2>/dev/null || {
        echo "gpu_run.sh: --pointcloud needs matplotlib and freetype-py; prepare with the GPU_WHEELS above" >&2
        exit 5
    }
    python3 benchmarks/bench_pointcloud.py --out "$OUT/pointcloud-gpu.json" "$@" 2>&1 | tee "$OUT/pointcloud.log"
    exit "${PIPESTATUS[0]}"
fi
if [ "$#" -eq 0 ]; then
    set -- --budget 1 --max-frames 240
fi
python3 benchmarks/run_all.py --results-dir "$OUT" "$@" 2>&1 | tee "$OUT/run_all.log"
exit "${PIPESTATUS[0]}"
