#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install and build everything pcpbuddy needs, idempotently:
#
#   scripts/setup.sh tools    Debian packages, rust-src, bindgen-cli, virtme-ng
#   scripts/setup.sh source   Debian's linux-source-7.3, unpacked into the cache
#   scripts/setup.sh kernel   all of the above, then the test kernel (cached)
#   scripts/setup.sh kdir     print the kernel build directory (nothing else)
#
# `kernel` and `kdir` take the variant as a second argument or from PCPBUDDY_KERNEL:
# default (scripts/kernel.config) or debug (plus scripts/kernel-debug.config).
#
# A step that is already done costs a few seconds. The kernel build is keyed by
# source version + config fragment(s) + toolchain versions, so a warm run never
# rebuilds it; KDIR=/path/to/build skips the kernel steps altogether.

case "${2:-}" in
"") ;;
default|debug) export PCPBUDDY_KERNEL=$2 ;;
*) echo "usage: $0 kernel|kdir [default|debug]" >&2; exit 1 ;;
esac
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
	"clang-$LLVM_VERSION" "lld-$LLVM_VERSION" "llvm-$LLVM_VERSION" "libclang-$LLVM_VERSION-dev"
	make flex bison bc libelf-dev libssl-dev cpio kmod xz-utils zstd rsync
	python3-venv busybox-static
)

# Debian mirrors as this machine's apt already knows them, so that the private
# configurations below use the same mirrors without naming any.
debian_mirror() {
	local targets
	targets=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages')
	if [ -z "$targets" ]; then
		# No package lists yet (a fresh image): fetch them once.
		quietly as_root apt-get update
		targets=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages')
	fi
	awk -v suffix="$1" '$2 ~ "^[a-z]+" suffix "$" { print $1; exit }' <<<"$targets"
}

# A private apt configuration: its own sources list, lists and caches, so other
# Debian suites can be used without touching the system's sources.
# Usage: private_apt NAME "deb-line"... ; then "${APT_PRIVATE[@]}" apt-get ...
private_apt() {
	local name=$1 dir="$PCPBUDDY_CACHE/apt/$1"
	shift
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	printf '%s\n' "$@" >"$dir/sources.list"
	APT_PRIVATE=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o "Dir::Etc::sourceparts=-"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
		-o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
	# Refresh at most once a day.
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 -print -quit)" ]; then
		log "apt ($name): updating private package lists"
		quietly as_root apt-get "${APT_PRIVATE[@]}" update
	fi
}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# quietly CMD...: run CMD with its output in a log file, shown only if it fails.
quietly() {
	local logf="$PCPBUDDY_CACHE/logs/$(date +%s%N).log"
	mkdir -p "$PCPBUDDY_CACHE/logs"
	if "$@" >"$logf" 2>&1; then
		rm -f "$logf"
	else
		cat "$logf" >&2
		die "failed: $* (log: $logf)"
	fi
}

setup_packages() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing Debian packages: ${missing[*]}"
		quietly as_root apt-get update
		quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
	fi

	# QEMU: bookworm's 7.2 is old; bookworm-backports has 10.x, which was seen
	# to work with virtme-ng 1.42 (and matches qemu-utils on our images).
	if ! command -v qemu-system-x86_64 >/dev/null; then
		local main sec
		main=$(debian_mirror '') sec=$(debian_mirror '-security')
		[ -n "$main" ] || die "cannot find a Debian mirror in apt's configuration"
		private_apt bookworm-backports \
			"deb $main bookworm main" "deb $main bookworm-updates main" \
			"deb $main bookworm-backports main" ${sec:+"deb $sec bookworm-security main"}
		log "installing qemu-system-x86 from bookworm-backports"
		quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_PRIVATE[@]}" \
			install -y --no-install-recommends -t bookworm-backports qemu-system-x86
	fi
}

setup_rust() {
	need rustup "rustup (https://rustup.rs; the machine's Rust toolchain)"
	local sysroot
	sysroot=$(rustc --print sysroot)
	if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
		log "rustup component add rust-src"
		rustup component add rust-src >&2
	fi
	# Miri (for the allocator core's host tests) exists only on nightly; it does not touch
	# the kernel build, which uses the stable toolchain above.
	# Not fatal: without it the host tests print "SKIP: miri: ..." and count a skip.
	if [ "${HOST_TESTS_MIRI:-1}" != 0 ] && ! cargo +nightly miri --version >/dev/null 2>&1; then
		log "rustup toolchain install nightly with miri (for the core's host tests)"
		rustup toolchain install nightly --profile minimal --component miri,rust-src \
			>"$PCPBUDDY_CACHE/logs/miri-install.log" 2>&1 ||
			log "warning: could not install Miri (log: $PCPBUDDY_CACHE/logs/miri-install.log); its tests will be skipped"
	fi
	if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
		log "cargo install bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
		cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION" >&2
	fi
}

setup_virtme() {
	local venv="$PCPBUDDY_CACHE/venv"
	if ! "$venv/bin/vng" --version 2>/dev/null | grep -q "$VIRTME_NG_VERSION"; then
		log "installing virtme-ng $VIRTME_NG_VERSION into $venv"
		python3 -m venv "$venv"
		quietly "$venv/bin/pip" install "virtme-ng==$VIRTME_NG_VERSION"
	fi
}

setup_source() {
	local main dir deb ver src
	main=$(debian_mirror '')
	private_apt trixie-backports "deb $main trixie main" "deb $main trixie-backports main"
	ver=$(apt-cache "${APT_PRIVATE[@]}" policy "$KERNEL_SOURCE_PKG" |
		awk '/Candidate:/ { print $2 }')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] ||
		die "$KERNEL_SOURCE_PKG not found in trixie-backports"
	src="$PCPBUDDY_CACHE/src/$KERNEL_SOURCE_PKG-$ver"
	if [ ! -f "$src/.unpacked" ]; then
		dir="$PCPBUDDY_CACHE/src/deb"
		mkdir -p "$dir"
		log "downloading $KERNEL_SOURCE_PKG $ver (about 170 MB)"
		(cd "$dir" && quietly apt-get "${APT_PRIVATE[@]}" download "$KERNEL_SOURCE_PKG=$ver")
		deb=$(ls "$dir"/"${KERNEL_SOURCE_PKG}"_*.deb | head -n1)
		rm -rf "$src" "$dir/x"
		dpkg-deb -x "$deb" "$dir/x"
		mkdir -p "$src"
		log "unpacking kernel source into $src"
		tar -xf "$dir"/x/usr/src/"$KERNEL_SOURCE_PKG".tar.* -C "$src" --strip-components=1
		rm -rf "$dir/x" "$deb"
		touch "$src/.unpacked"
	fi
	echo "$src" >"$PCPBUDDY_CACHE/src/current"
}

setup_kernel() {
	local src build jobs
	src=$(cat "$PCPBUDDY_CACHE/src/current")
	build=$(kernel_build_dir)
	[ -f "$build/.pcpbuddy-built" ] && return 0
	# One kernel build at a time on this machine (two would each take twice as long): wait for
	# a build already running, which may be this very kernel.
	exec 9>"$PCPBUDDY_CACHE/build.lock"
	if ! flock -n 9; then
		log "another kernel build is running; waiting for it"
		flock 9
	fi
	[ -f "$build/.pcpbuddy-built" ] && return 0
	jobs=$(nproc)
	mkdir -p "$build"
	local t0 minutes="12-16"
	t0=$(date +%s)
	[ "$PCPBUDDY_KERNEL" = default ] || minutes="about 25"
	log "building the $PCPBUDDY_KERNEL test kernel in $build ($minutes minutes on 2 cores; log: $build/build.log)"
	# allnoconfig takes one KCONFIG_ALLCONFIG file: the variant's fragments, concatenated.
	cat $(kernel_fragments) >"$build/pcpbuddy.config"
	local kmake=(make -C "$src" O="$build" LLVM=-$LLVM_VERSION -j"$jobs")
	{
		"${kmake[@]}" KCONFIG_ALLCONFIG="$build/pcpbuddy.config" allnoconfig &&
			check_config "$build/.config" &&
			"${kmake[@]}" bzImage modules &&
			"${kmake[@]}" modules_prepare
	} >"$build/build.log" 2>&1 || {
		tail -n 60 "$build/build.log" >&2
		die "kernel build failed (log: $build/build.log)"
	}
	echo $(($(date +%s) - t0)) >"$build/.pcpbuddy-build-seconds"
	touch "$build/.pcpbuddy-built"
	log "kernel ready in $(($(date +%s) - t0)) s: $build"
}

# Every value the fragments force must have survived Kconfig's dependency
# resolution; a silently dropped CONFIG_RUST (or CONFIG_KASAN) would only show up much later.
# A later fragment may override an earlier one: the last value given for a symbol counts.
check_config() {
	local bad=0 line sym frags
	frags=$(kernel_fragments)
	while read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qx "$line" "$1" || { log "config: wanted $line, got: $(grep "^${line%%=*}=" "$1" || echo unset)"; bad=1; } ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			grep -q "^$sym=" "$1" && { log "config: wanted $sym unset"; bad=1; } ;;
		esac
	done < <(cat $frags | awk '
		/^CONFIG_[A-Za-z0-9_]+=/ { sym = $0; sub(/=.*/, "", sym) }
		/^# CONFIG_[A-Za-z0-9_]+ is not set/ { sym = $2 }
		sym != "" { last[sym] = $0; if (!(sym in seen)) { seen[sym] = 1; order[n++] = sym } }
		{ sym = "" }
		END { for (i = 0; i < n; i++) print last[order[i]] }')
	[ $bad = 0 ] || { log "kernel config does not match $(echo $frags | xargs -n1 basename | paste -sd+) (see above)"; return 1; }
}

mkdir -p "$PCPBUDDY_CACHE/logs"
case "${1:-kernel}" in
tools) setup_packages; setup_rust; setup_virtme ;;
source) setup_packages; setup_source ;;
kernel)
	setup_packages; setup_rust; setup_virtme
	[ -n "${KDIR:-}" ] || { setup_source; setup_kernel; } ;;
kdir) kernel_build_dir ;;
*) die "usage: $0 [tools|source|kernel|kdir] [default|debug]" ;;
esac
