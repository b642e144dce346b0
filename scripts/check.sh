#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: install what is missing, build, run the host tests and the VM
# selftests, and end with one line "N passed, N failed, N skipped". Exits
# non-zero on any failure, on a VM that did not boot, on a kernel-checker report
# anywhere in the run's kernel log (KERNEL_LOG_BAD in scripts/lib.sh: BUG/WARNING/Oops,
# KASAN, lockdep, UBSAN, ...) and on a failed KUnit case of the module at any of its loads.
# `make check-debug` is the same on the debug kernel (PCPBUDDY_KERNEL=debug, no host tests).
#
# Environment: CHECK_TESTS="test_load test_ioctl" runs only those VM tests;
# SKIP_HOST_TESTS=1 skips the host (cargo) tests; TEST_TIMEOUT: seconds per VM test (300;
# 900 on the debug kernel; 2700 with FUZZ_LONG or STRESS_LONG). See also scripts/vm.sh.

source "$(dirname "$0")/lib.sh"
cd "$PCPBUDDY_TOP"

passed=0 failed=0 skipped=0
failures=()
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "not ok - $1"; }

finish() {
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "Failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit
}

start=$(date +%s)
"$PCPBUDDY_TOP/scripts/setup.sh" kernel || die "setup failed (see above)"
KDIR=$(kernel_build_dir)
export KDIR
log "test kernel: $PCPBUDDY_KERNEL ($KDIR)"
# The long fuzzer and stress runs need run_vm.sh's longer limit; this value is passed to the VM,
# so it must not shadow that default with the short one.
if [ -n "${FUZZ_LONG:-}${STRESS_LONG:-}" ]; then
	TEST_TIMEOUT=${TEST_TIMEOUT:-2700}
elif [ "$PCPBUDDY_KERNEL" = debug ]; then
	TEST_TIMEOUT=${TEST_TIMEOUT:-900}
else
	TEST_TIMEOUT=${TEST_TIMEOUT:-300}
fi

# --- host tests (the allocator core) ---------------------------------------
if [ -x scripts/host-tests.sh ] && [ -z "${SKIP_HOST_TESTS:-}" ]; then
	host_log=$(mktemp)
	if scripts/host-tests.sh 2>&1 | tee "$host_log"; then rc=0; else rc=${PIPESTATUS[0]}; fi
	# cargo prints one "test result:" line per test binary.
	read -r p f i < <(awk '/^test result:/ {
		for (n = 1; n <= NF; n++) {
			if ($(n) ~ /^passed/) p += $(n-1); if ($(n) ~ /^failed/) f += $(n-1)
			if ($(n) ~ /^ignored/) i += $(n-1) } }
		END { print p+0, f+0, i+0 }' "$host_log")
	# A step the host tests could not run says "SKIP: <what>: <why>".
	s=$(grep -c '^SKIP: ' "$host_log" || true)
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + i + s))
	[ "$rc" = 0 ] || [ "$f" -gt 0 ] || fail "host tests exited with status $rc"
	[ "$f" = 0 ] || failures+=("host tests: $f failed (see above)")
	rm -f "$host_log"
fi

# --- style: the module's Rust is formatted with the kernel's rustfmt configuration ---
if rustfmt --edition 2021 --config-path "$(cat "$PCPBUDDY_CACHE/src/current")/.rustfmt.toml" \
	--check rust/kmod/*.rs >/dev/null 2>&1; then
	pass "module sources are rustfmt-clean"
else
	fail "module sources are not rustfmt-clean (run: rustfmt --edition 2021 rust/kmod/*.rs)"
fi

# --- build ------------------------------------------------------------------
if make -s -C "$PCPBUDDY_TOP" modules KDIR="$KDIR" >build.log 2>&1 &&
	! grep -q 'warning:' build.log; then
	pass "module builds without warnings against $(basename "$KDIR")"
else
	cat build.log
	fail "module build (see build.log above)"
	finish
fi
rm -f build.log

# The common paths' cost, read from the machine code (Documentation/core.md, "Fast paths"): the
# allocation's entry point has no locked instruction at all, the free's exactly one (the
# compare-and-swap on the page's state byte that commits it, and catches a racing double free,
# as put_page_testzero() does for the kernel's own free); the slow paths are functions of their own.
locked_in() {
	objdump -d --no-show-raw-insn pcpbuddy.ko | awk -v f="<$1>:" '
		$0 ~ f { found = in_f = 1; next }
		/^$/ { in_f = 0 }
		in_f && (/lock / || /xchg.*\(/) { n++ }	# xchg with memory is locked without the prefix
		END { print found ? n + 0 : "missing" }'
}
alloc_locks=$(locked_in pcpbuddy_rs_alloc) free_locks=$(locked_in pcpbuddy_rs_free)
echo "# locked instructions: pcpbuddy_rs_alloc $alloc_locks, pcpbuddy_rs_free $free_locks"
if [ "$alloc_locks" = 0 ] && [ "$free_locks" = 1 ]; then
	pass "fast paths: no locked instruction in alloc, one (the commit) in free"
else
	fail "fast paths: locked instructions in alloc ($alloc_locks, want 0) or free ($free_locks, want 1)"
fi
if gcc -O2 -Wall -Werror -I include/uapi -o selftests/tools/pcpbuddy_test selftests/tools/pcpbuddy_test.c; then
	pass "pcpbuddy_test builds against include/uapi"
else
	fail "pcpbuddy_test build"
	finish
fi
if gcc -O2 -Wall -Werror -I include/uapi -pthread -o selftests/tools/pcpbuddy_fuzz selftests/tools/pcpbuddy_fuzz.c; then
	pass "pcpbuddy_fuzz builds against include/uapi"
else
	fail "pcpbuddy_fuzz build"
	finish
fi

if (cd rust/pcpbctl && cargo build -j2 --release --quiet); then
	pass "pcpbctl builds"
else
	fail "pcpbctl build"
	finish
fi

# --- VM selftests -----------------------------------------------------------
# The guest does not inherit this environment: pass the tests' settings on the command line.
vm_env=()
for var in FUZZ_LONG FUZZ_CALLS FUZZ_SEED FUZZ_ARGS STRESS_LONG STRESS_OPS STRESS_SEED TEST_TIMEOUT; do
	[ -z "${!var:-}" ] || vm_env+=("$var=$(printf %q "${!var}")")
done
# The long fuzzer run (FUZZ_LONG=1: 10^7 calls) and the long stress run (STRESS_LONG=1: 10^7
# operations) take longer than the VM's default time limit.
[ -z "${FUZZ_LONG:-}${STRESS_LONG:-}" ] || export VM_TIMEOUT=${VM_TIMEOUT:-3600}
# test_numa needs two NUMA nodes: it runs in a boot of its own (VM_NUMA=2, 4 CPUs), after
# the others; when it is the only test asked for, that boot is the only one.
numa_boot=0
main_tests=${CHECK_TESTS:-}
if [ -z "${CHECK_TESTS:-}" ] || [[ " $CHECK_TESTS " == *" test_numa "* ]]; then
	main_tests=$(echo " ${CHECK_TESTS:-} " | sed 's/ test_numa / /g' | xargs)
	if ! grep -q '^CONFIG_NUMA=y' "$(kernel_build_dir)/.config"; then
		echo "ok - test_numa # SKIP the test kernel has no CONFIG_NUMA=y: NUMA is NOT tested"
		skipped=$((skipped + 1))
	elif [ -n "${CHECK_TESTS:-}" ] && [ -z "$main_tests" ]; then
		export VM_NUMA=2 VM_CPUS=4
		main_tests=test_numa
	else
		numa_boot=1
	fi
fi
out="$PCPBUDDY_TOP/.vmtest/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
vm_start=$(date +%s)
for attempt in 1 2; do
	vm_rc=0
	scripts/vm.sh run "$out" "${vm_env[*]:+env ${vm_env[*]} }$PCPBUDDY_TOP/selftests/run_vm.sh $out $main_tests" \
		>"$out/console.txt" 2>&1 || vm_rc=$?
	[ $attempt = 1 ] || break
	if [ ! -f "$out/booted" ]; then
		# The guest never reached the tests: QEMU itself can die at boot under multi-threaded
		# TCG (seen: an iotlb_to_section assertion). Boot once more; a second failure counts.
		log "the VM did not boot (exit $vm_rc); retrying once"
	elif [ -f "$out/kmsg.txt" ] &&
		sed '/^# running /q' "$out/kmsg.txt" | grep -Eq "$KERNEL_LOG_BAD|KASAN"; then
		# The kernel itself reported a problem while booting, before any test (so before the
		# module was loaded): seen once on the debug kernel, a KASAN wild-memory-access from an
		# interrupt during identify_cpu() at 0.005 s. Such a report taints the kernel and turns
		# lockdep off for the whole run, so the run checks less than it should: boot once more;
		# if it happens again, it counts (the boot report is then in the log scan's failures).
		log "the kernel reported a problem at boot, before any test (see $out/kmsg-first-boot.txt); retrying once"
		mv "$out/kmsg.txt" "$out/kmsg-first-boot.txt"
	else
		break
	fi
	mv "$out/console.txt" "$out/console-first-boot.txt"
	rm -f "$out"/*.ktap "$out"/*.rc "$out/booted" "$out/finished"
done
log "VM ran for $(($(date +%s) - vm_start)) s (exit $vm_rc); results in $out"

if [ ! -f "$out/booted" ]; then
	tail -n 40 "$out/console.txt"
	fail "VM did not boot (console above)"
	finish
fi
[ -f "$out/finished" ] || { tail -n 40 "$out/console.txt"; fail "VM did not finish the tests (crash or timeout; console above)"; }

if [ $numa_boot = 1 ]; then
	mkdir -p "$out/numa"
	log "booting again with two NUMA nodes for test_numa"
	VM_NUMA=2 VM_CPUS=4 scripts/vm.sh run "$out/numa" \
		"$PCPBUDDY_TOP/selftests/run_vm.sh $out/numa test_numa" >"$out/numa/console.txt" 2>&1 ||
		log "the NUMA boot exited with $?"
	if [ -f "$out/numa/test_numa.ktap" ]; then
		cp "$out/numa/test_numa.ktap" "$out/numa/test_numa.rc" "$out/"
	else
		tail -n 40 "$out/numa/console.txt"
		fail "test_numa: the VM with two NUMA nodes did not run it (console above)"
	fi
fi

for ktap in "$out"/*.ktap; do
	[ -e "$ktap" ] || continue
	t=$(basename "$ktap" .ktap)
	echo "# $t"
	sed 's/^/#   /' "$ktap"
	while IFS= read -r line; do
		desc=${line#*ok [0-9]* }
		case "$line" in
		"ok "*"# SKIP"*) skipped=$((skipped + 1)); echo "ok - $t: $desc" ;;
		"ok "*) pass "$t: $desc" ;;
		"not ok "*) fail "$t: $desc" ;;
		"Bail out!"*) fail "$t: $line" ;;
		esac
	done < <(grep -E '^(ok|not ok) [0-9]+ |^Bail out!' "$ktap")
	rc=$(cat "$out/$t.rc" 2>/dev/null || echo missing)
	case "$rc" in
	0|1) ;;
	124|137) fail "$t: timed out" ;;
	*) fail "$t: exited with status $rc" ;;
	esac
done

# The kernel log of the whole run (kmsg.txt, streamed from boot on), and the console too if
# the guest did not finish (what it printed last may not have reached kmsg.txt). Without a
# stream (an old run_vm.sh), the log at the end.
logs=()
for f in kmsg.txt dmesg.txt; do
	[ -s "$out/$f" ] && { logs+=("$out/$f"); break; }
done
[ -f "$out/finished" ] && [ ${#logs[@]} -gt 0 ] || logs+=("$out/console.txt")
[ ! -s "$out/numa/kmsg.txt" ] || logs+=("$out/numa/kmsg.txt")
if kernel_log_reports "${logs[@]}" >"$out/kernel-log-bad.txt"; then
	reports=1
	sed 's/^/#   /' "$out/kernel-log-bad.txt" | head -n 100
	[ "$(wc -l <"$out/kernel-log-bad.txt")" -le 100 ] ||
		echo "#   ... $(wc -l <"$out/kernel-log-bad.txt") lines in all: $out/kernel-log-bad.txt"
	fail "kernel log has no checker reports (BUG/WARNING/KASAN/lockdep/UBSAN/...; $(wc -l <"$out/kernel-log-bad.txt") lines above, log: ${logs[0]})"
else
	reports=0
	pass "kernel log has no checker reports (BUG/WARNING/KASAN/lockdep/UBSAN/...)"
fi
# Lockdep (debug kernel) switches itself off after its first report, or on an internal limit:
# what ran after that was not checked for locking.
if [ -f "$out/lockdep_stats.txt" ]; then
	if ! grep -Eq '^ *debug_locks: +0$' "$out/lockdep_stats.txt"; then
		pass "lockdep stayed on for the whole run"
	elif [ $reports = 1 ]; then
		echo "# lockdep switched itself off (after the first report above): locking after it went unchecked"
	else
		fail "lockdep stayed on for the whole run (debug_locks: 0 without a report in the log)"
	fi
fi

# The module's KUnit suites run at every load (each test loads it, often several times);
# test_kunit reads debugfs, which keeps only the last load: count every load's results here.
if [ -s "$out/kmsg.txt" ]; then
	kunit_log_results "$out/kmsg.txt" >"$out/kunit-log.txt"
	loads=$(awk 'END { print $1 + 0 }' "$out/kunit-log.txt")
	results=$(wc -l <"$out/kunit-log.txt")
	if [ "$results" = 0 ]; then
		fail "KUnit: no result of a pcpbuddy_* suite in the kernel log (did the suites run?)"
	elif ! grep -q ' fail ' "$out/kunit-log.txt"; then
		pass "KUnit: every pcpbuddy_* case passed at every load ($loads loads, $results results)"
	else
		while read -r load test suite _ case; do
			fail "KUnit: $suite: $case failed at load $load of $loads (during $test)"
		done < <(grep ' fail ' "$out/kunit-log.txt")
	fi
	skips=$(grep -c ' skip ' "$out/kunit-log.txt" || true)
	[ "$skips" = 0 ] || echo "# KUnit: $skips skipped case results in $out/kunit-log.txt"
fi
log "make check took $(($(date +%s) - start)) s"
finish
