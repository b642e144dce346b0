# SPDX-License-Identifier: GPL-2.0
# KTAP output for pcpbuddy's selftests, after the kernel's
# tools/testing/selftests/kselftest/ktap_helpers.sh (same function names, so the
# scripts read like in-tree selftests). Sourced, never run.

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

KTAP_TESTNO=1
KTAP_CNT_PASS=0
KTAP_CNT_FAIL=0
KTAP_CNT_SKIP=0

ktap_print_header() { echo "TAP version 13"; }
ktap_set_plan() { echo "1..$1"; }
ktap_print_msg() { echo "# $*"; }

ktap_test_pass() {
	echo "ok $KTAP_TESTNO $1"
	KTAP_TESTNO=$((KTAP_TESTNO + 1)); KTAP_CNT_PASS=$((KTAP_CNT_PASS + 1))
}

ktap_test_fail() {
	echo "not ok $KTAP_TESTNO $1"
	KTAP_TESTNO=$((KTAP_TESTNO + 1)); KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
}

# ktap_test_skip DESC REASON: a skip always says why.
ktap_test_skip() {
	echo "ok $KTAP_TESTNO $1 # SKIP ${2:?a skip needs a reason}"
	KTAP_TESTNO=$((KTAP_TESTNO + 1)); KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1))
}

# ktap_test_result DESC CMD...: pass if CMD succeeds; its output goes to the log as comments.
ktap_test_result() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	if [ $rc = 0 ]; then ktap_test_pass "$desc"; else ktap_test_fail "$desc"; fi
}

ktap_exit_fail_msg() {
	echo "Bail out! $*"
	exit $KSFT_FAIL
}

ktap_finished() {
	echo "# Totals: pass:$KTAP_CNT_PASS fail:$KTAP_CNT_FAIL xfail:0 xpass:0 skip:$KTAP_CNT_SKIP error:0"
	[ "$KTAP_CNT_FAIL" = 0 ] && exit $KSFT_PASS || exit $KSFT_FAIL
}
