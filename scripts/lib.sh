# SPDX-License-Identifier: GPL-2.0
# Shared settings for pcpbuddy's scripts. Sourced, never run.
#
# Everything the project installs or builds outside the checkout lives under
# $PCPBUDDY_CACHE (default ~/.cache/pcpbuddy), so a fresh clone reuses it and a
# `make clean` in the checkout never throws away a 16-minute kernel build.

set -euo pipefail

PCPBUDDY_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PCPBUDDY_CACHE=${PCPBUDDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pcpbuddy}

# Pinned versions: bump deliberately, the kernel build cache is keyed on them.
LLVM_VERSION=19
BINDGEN_VERSION=0.73.2
VIRTME_NG_VERSION=1.42
KERNEL_SOURCE_PKG=linux-source-7.3

export PATH="$HOME/.cargo/bin:$PCPBUDDY_CACHE/venv/bin:$PATH"
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VERSION/lib

log() { printf '[pcpbuddy] %s\n' "$*" >&2; }
die() { printf '[pcpbuddy] error: %s\n' "$*" >&2; exit 1; }

# need CMD PACKAGE: fail with a message naming the package that provides CMD.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found; install the '$2' package (or run scripts/setup.sh)"
}

# The directory of the kernel build for the current source, fragment and toolchain.
# Set KDIR to use a kernel build of your own instead (it must have CONFIG_RUST=y).
kernel_build_dir() {
	if [ -n "${KDIR:-}" ]; then
		echo "$KDIR"
		return
	fi
	local key_file="$PCPBUDDY_CACHE/src/current"
	[ -f "$key_file" ] || die "no kernel source yet: run scripts/setup.sh kernel"
	local src key
	src=$(cat "$key_file")
	key=$( {
		echo "$src"
		cat "$PCPBUDDY_TOP/scripts/kernel.config"
		rustc --version
		bindgen --version 2>/dev/null
		clang-$LLVM_VERSION --version | head -n1
	} | sha256sum | cut -c1-16)
	echo "$PCPBUDDY_CACHE/build/$(basename "$src")-$key"
}
