#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test kernel under virtme-ng with this checkout visible.
#
#   scripts/vm.sh run OUTDIR CMD...   run CMD in the VM (OUTDIR is writable there)
#   scripts/vm.sh shell               an interactive shell in the VM
#
# Environment:
#   PCPBUDDY_KERNEL=default|debug: which test kernel boots (scripts/lib.sh).
#   VM_CPUS (4), VM_MEMORY (2G; 3G on the debug kernel), VM_CMA (256M): the VM's shape;
#       cma= sizes the default CMA area that source=cma uses. KASAN takes an eighth of the
#       memory for its shadow and holds freed objects in quarantine, hence the debug kernel's 3G.
#   PCPBUDDY_KVM=1|0: force KVM or TCG. Unset: use KVM if a boot probe with it
#       succeeds (remembered in the cache), otherwise TCG.
#   VM_TIMEOUT (1200; 3600 on the debug kernel): seconds before a hung VM is killed.
#   VM_QEMU_OPTS: extra QEMU options.
#   VM_NUMA=N (N >= 2): N NUMA nodes (vng --numa), VM_MEMORY and VM_CPUS split evenly between
#       them (node i gets CPUs i*VM_CPUS/N .. (i+1)*VM_CPUS/N-1); VM_CPUS must be a multiple of N.

source "$(dirname "$0")/lib.sh"

KDIR=$(kernel_build_dir)
VM_CPUS=${VM_CPUS:-4}
VM_CMA=${VM_CMA:-256M}
if [ "$PCPBUDDY_KERNEL" = debug ]; then
	VM_MEMORY=${VM_MEMORY:-3G}
	VM_TIMEOUT=${VM_TIMEOUT:-3600}
else
	VM_MEMORY=${VM_MEMORY:-2G}
	VM_TIMEOUT=${VM_TIMEOUT:-1200}
fi
need vng "virtme-ng (run scripts/setup.sh tools)"
need qemu-system-x86_64 "qemu-system-x86"
[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "no kernel in $KDIR: run 'make kernel'"

# cma= reserves the default CMA area; panic=-1 + oops=panic make a crashed guest
# exit at once instead of hanging the run until the timeout; loglevel=4 puts
# warnings and worse on the console (vng asks for loglevel=1), so a crash is
# visible even when the guest cannot write its dmesg out; kunit.* make module
# KUnit suites run at insmod whatever the kernel's KUNIT_*_ENABLED defaults; log_buf_len
# keeps a whole test run in the ring buffer (the tests never clear it; the debug kernel's
# reports are long).
APPEND="cma=$VM_CMA panic=-1 oops=panic loglevel=4 kunit.enable=1 kunit.autorun=1 log_buf_len=4M"
# The debug kernel under emulation runs 10-50 times slower than on hardware: the soft lockup
# (2 x watchdog_thresh) and RCU stall limits are raised to a minute, so that a report means
# seconds of hardware time, not a slow emulator.
[ "$PCPBUDDY_KERNEL" != debug ] ||
	APPEND+=" watchdog_thresh=30 rcupdate.rcu_cpu_stall_timeout=60"

# VM_NUMA: vng's --numa options, one node per share of the memory (in MiB) and of the CPUs.
numa_args() {
	local nodes=${VM_NUMA:-1} mib i per
	[ "$nodes" -ge 2 ] 2>/dev/null || return 0
	case "$VM_MEMORY" in
	*G) mib=$(( ${VM_MEMORY%G} * 1024 )) ;;
	*M) mib=${VM_MEMORY%M} ;;
	*) die "VM_NUMA: VM_MEMORY=$VM_MEMORY: expected NNNG or NNNM" ;;
	esac
	[ $(( VM_CPUS % nodes )) -eq 0 ] || die "VM_NUMA=$nodes: VM_CPUS=$VM_CPUS is not a multiple"
	[ $(( mib % nodes )) -eq 0 ] || die "VM_NUMA=$nodes: ${mib}M of memory does not split evenly"
	per=$(( VM_CPUS / nodes ))
	for ((i = 0; i < nodes; i++)); do
		echo --numa "$(( mib / nodes ))M,cpus=$(( i * per ))-$(( (i + 1) * per - 1 ))"
	done
}

vng_args() {
	echo --run "$KDIR" --cpus "$VM_CPUS" --memory "$VM_MEMORY" --force-9p --user root \
		--cwd "$PCPBUDDY_TOP" $(numa_args)
}

# Extra QEMU options (VM_QEMU_OPTS), e.g. "-icount shift=0 -accel tcg,thread=single" for
# deterministic guest time (scripts/bench.sh BENCH_MODE=icount).
qemu_args=()
[ -z "${VM_QEMU_OPTS:-}" ] || qemu_args=(--qemu-opts="$VM_QEMU_OPTS")
# VM_NUMA: a socket per node. CPUs of one socket share a last-level cache, which the scheduler
# insists is on one node (it WARNs at boot otherwise). QEMU merges this -smp into vng's.
[ "${VM_NUMA:-1}" -lt 2 ] ||
	qemu_args+=(--qemu-opts="-smp $VM_CPUS,sockets=$VM_NUMA,cores=$((VM_CPUS / VM_NUMA)),threads=1")

# KVM: /dev/kvm can exist and still not work (nested virtualisation where the guest
# hangs after the firmware). Probe once per kernel build with a short boot.
accel_args() {
	case "${PCPBUDDY_KVM:-auto}" in
	1) echo "" ; return ;;
	0) echo "--disable-kvm"; return ;;
	esac
	local probe="$KDIR/.pcpbuddy-kvm"
	if [ ! -f "$probe" ]; then
		local verdict=no
		if [ -w /dev/kvm ]; then
			log "probing KVM (a short boot, at most 60 s)"
			timeout -k 5 60 vng $(vng_args) --append "$APPEND" --exec true \
				</dev/null >/dev/null 2>&1 && verdict=yes
		fi
		echo $verdict >"$probe"
		log "KVM usable: $verdict (remembered in $probe; PCPBUDDY_KVM=0|1 overrides)"
	fi
	[ "$(cat "$probe")" = yes ] && echo "" || echo "--disable-kvm"
}

case "${1:-}" in
run)
	out=${2:?usage: vm.sh run OUTDIR CMD...}
	shift 2
	# One VM at a time: two emulated guests on a 2-core machine starve each other (and any
	# timing either takes).
	exec 8>"$PCPBUDDY_CACHE/vm.lock"
	flock -n 8 || { log "another VM is running; waiting for it"; flock 8; }
	accel=$(accel_args)
	log "booting $(basename "$KDIR") ($PCPBUDDY_KERNEL kernel, ${accel:-KVM}${accel:+ = TCG}, $VM_CPUS CPUs, $VM_MEMORY, cma=$VM_CMA${VM_NUMA:+, $VM_NUMA NUMA nodes})"
	timeout -k 10 "$VM_TIMEOUT" vng $(vng_args) $accel "${qemu_args[@]}" --append "$APPEND" \
		--verbose --rwdir "$out" --exec "$*" </dev/null
	;;
shell)
	exec vng $(vng_args) $(accel_args) "${qemu_args[@]}" --append "$APPEND" --rwdir "$PCPBUDDY_TOP"
	;;
*) die "usage: $0 run OUTDIR CMD... | shell" ;;
esac
