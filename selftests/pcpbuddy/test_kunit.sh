#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module's Rust KUnit suites ran at load: re-emit each case as a KTAP line.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

SUITES="pcpbuddy_reserve pcpbuddy_pool"

ktap_print_header
mount_debugfs
pool_loaded || load_pool || ktap_exit_fail_msg "cannot load $MODULE"

for suite in $SUITES; do
	results=/sys/kernel/debug/kunit/$suite/results
	if [ ! -r "$results" ]; then
		ktap_test_fail "kunit: $suite: no results (suite did not run?)"
		continue
	fi
	sed 's/^/# /' "$results"
	cases=0
	# Test cases are the indented result lines; the unindented one is the suite.
	while read -r line; do
		case "$line" in
		"ok "*"# SKIP"*) reason=${line#*# SKIP}
			name=${line#ok * }; name=${name%% *}
			ktap_test_skip "kunit: $suite: $name" "${reason:-skipped by KUnit}" ;;
		"ok "*) name=${line#ok * }; ktap_test_pass "kunit: $suite: ${name%% *}" ;;
		"not ok "*) name=${line#not ok * }; ktap_test_fail "kunit: $suite: ${name%% *}" ;;
		*) continue ;;
		esac
		cases=$((cases + 1))
	done < <(grep -E '^[[:space:]]+(not )?ok [0-9]+ ' "$results")
	[ $cases -gt 0 ] || ktap_test_fail "kunit: $suite: no test cases found"
done
ktap_set_plan $((KTAP_TESTNO - 1))
ktap_finished
