#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The pool reserves size_mb from the source asked for, and gives all of it back at unload.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

nr_blocks() { tail -n +2 "$DEBUGFS/blocks" | wc -l; }

# reserve_round_trip SOURCE MB COUNTER: load with source=SOURCE size_mb=MB; check the block
# count and sources and that COUNTER (see free_kb) dropped by most of MB (cma_alloc and
# alloc_contig_pages migrate pages that were in use out of the range, which moves the counter
# by less than MB); unload, and check that COUNTER came back to within 1.5 MiB (a block is 2).
reserve_round_trip() {
	local source=$1 mb=$2 counter=$3 before loaded after want_blocks
	unload_pool || return 1
	before=$(free_kb "$counter")
	insmod "$MODULE" source="$source" size_mb="$mb" || return 1
	loaded=$(free_kb "$counter")
	want_blocks=$((mb / 2))
	echo "$counter: before $before kB, loaded $loaded kB"
	[ "$(nr_blocks)" = "$want_blocks" ] || { echo "blocks: $(nr_blocks), want $want_blocks"; return 1; }
	if [ "$source" = auto ]; then
		# auto takes from CMA first.
		[ "$(sed -n 2p "$DEBUGFS/blocks" | awk '{ print $3 }')" = cma ] ||
			{ echo "auto did not start with cma:"; head "$DEBUGFS/blocks"; return 1; }
	else
		[ "$(tail -n +2 "$DEBUGFS/blocks" | awk '{ print $3 }' | sort -u)" = "$source" ] ||
			{ echo "a block is not from $source:"; cat "$DEBUGFS/blocks"; return 1; }
	fi
	[ $((before - loaded)) -ge $((mb * 1024 * 3 / 4)) ] ||
		{ echo "$counter did not drop by 3/4 of $mb MiB"; return 1; }
	rmmod pcpbuddy || return 1
	after=$(free_kb "$counter")
	echo "$counter: after unload $after kB"
	# A leaked block would be a whole pageblock (2048 kB) short; the rest of the guest moves
	# MemFree by up to ~1.2 MiB between two readings (seen once for source=pages: 1192 kB short,
	# no block missing), so the limit is three quarters of a block.
	[ $((before - after)) -lt 1536 ] || { echo "$counter did not come back"; return 1; }
}

# cma_twice: reserve everything the CMA area has free, twice in a row; the second load succeeds
# only if the first unload gave every block back to CMA. What is free, not the area's size: an
# earlier test of the same boot may have withheld a block on purpose (test_consumer's leak).
cma_twice() {
	local area_mb
	unload_pool || return 1
	area_mb=$(( $(free_kb CmaFree) / 1024 / 2 * 2 ))
	echo "CMA area: $(( $(meminfo_kb CmaTotal) / 1024 )) MiB, free: $area_mb MiB (whole pageblocks)"
	insmod "$MODULE" source=cma size_mb="$area_mb" && rmmod pcpbuddy &&
		insmod "$MODULE" source=cma size_mb="$area_mb" && rmmod pcpbuddy
}

# expect_enomem PARAMS...: the load fails with ENOMEM, says how much it got, leaves nothing.
expect_enomem() {
	local out
	unload_pool || return 1
	log_mark
	out=$(insmod "$MODULE" "$@" 2>&1) && { echo "insmod $* succeeded"; rmmod pcpbuddy; return 1; }
	echo "$out"
	echo "$out" | grep -q 'Cannot allocate memory' && ! pool_loaded &&
		log_since | grep 'reserved only'
}

ktap_print_header
ktap_set_plan 6
mount_debugfs

ktap_test_result "source=cma reserves and returns 64 MiB (CMA available_pages)" reserve_round_trip cma 64 CmaFree
ktap_test_result "source=contig reserves and returns 64 MiB (MemFree)" reserve_round_trip contig 64 MemFree
ktap_test_result "source=pages reserves and returns 64 MiB (MemFree)" reserve_round_trip pages 64 MemFree
ktap_test_result "source=cma larger than the CMA area fails with ENOMEM" \
	expect_enomem source=cma size_mb=512
ktap_test_result "all the CMA area has free can be reserved, and again after unload" cma_twice
ktap_test_result "source=auto fills 1 GiB past the CMA area and returns it (MemFree)" \
	reserve_round_trip auto 1024 MemFree
ktap_finished
