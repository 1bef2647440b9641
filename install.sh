#!/usr/bin/env bash
# Install StemProver and everything it needs on a fresh Debian/Ubuntu machine (Python 3.10+).
# torch is pinned: an open range would pull a multi-GB CUDA build instead of the CPU one.
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES="fluidsynth fluid-soundfont-gm csound-soundfont libsndfile1"
if command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
fi
python -m pip install -q "torch==2.13.0" -e ".[all,dev]"
