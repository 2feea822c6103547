#!/usr/bin/env bash
# The main job: trace an MoE layer, print its program and gradient program, train a few steps.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
npx tsx examples/demo.ts "$@"
