# SPDX-License-Identifier: GPL-2.0
#
# pcpbuddy: see README.md. The kernel's build system reads Kbuild; this file
# only holds the developer targets.
#
#   make            build pcpbuddy.ko (and the test modules) against $(KDIR)
#   make kernel     install the toolchain and build the cached test kernel
#   make check      host tests + VM tests (installs and builds what is missing)
#   make check-debug  the VM tests on the debug kernel (KASAN, lockdep, UBSAN, ...)
#   make kernel-debug  only build the debug test kernel
#   make vm         a shell in the VM with the module built
#   make bench      the benchmark suite in the VM: results/latest/report.md
#   make clean      remove build products from the checkout (not the cache)
#
# KDIR=/path/to/kernel/build uses a kernel of your own (CONFIG_RUST=y).
# PCPBUDDY_KERNEL=debug makes `make`, `make vm`, `make bench` use the debug kernel.

SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
LLVM ?= -19
export LIBCLANG_PATH ?= /usr/lib/llvm-19/lib
export PATH := $(HOME)/.cargo/bin:$(PATH)
KDIR ?= $(shell $(TOP)/scripts/setup.sh kdir 2>/dev/null)

.PHONY: all modules kernel kernel-debug check check-debug host-check vm-check vm bench clean setup

all: modules

# The objects in the checkout belong to one kernel build (.kdir names it): switching between
# the default and the debug kernel cleans them first.
modules:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Module.symvers" || \
		{ echo "no kernel build: run 'make kernel' first (or pass KDIR=)"; exit 1; }
	@if [ "$$(cat $(TOP)/.kdir 2>/dev/null)" != "$(KDIR)" ]; then \
		$(MAKE) -s -C $(KDIR) M=$(TOP) LLVM=$(LLVM) clean >/dev/null 2>&1; \
		echo "$(KDIR)" >$(TOP)/.kdir; fi
	$(MAKE) -C $(KDIR) M=$(TOP) LLVM=$(LLVM) modules

kernel:
	$(TOP)/scripts/setup.sh kernel

kernel-debug:
	PCPBUDDY_KERNEL=debug $(TOP)/scripts/setup.sh kernel

check:
	$(TOP)/scripts/check.sh

# The host tests are the same on both kernels: `make check` runs them, this does not.
check-debug:
	PCPBUDDY_KERNEL=debug SKIP_HOST_TESTS=$${SKIP_HOST_TESTS-1} $(TOP)/scripts/check.sh

vm: kernel
	$(MAKE) modules KDIR="$$($(TOP)/scripts/setup.sh kdir)"
	$(TOP)/scripts/vm.sh shell

bench:
	$(TOP)/scripts/bench.sh

clean:
	@if [ -n "$(KDIR)" ] && [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(TOP) LLVM=$(LLVM) clean; fi
	rm -rf $(TOP)/rust/core/target $(TOP)/rust/pcpbctl/target $(TOP)/.vmtest $(TOP)/selftests/tools/pcpbuddy_test \
		$(TOP)/selftests/tools/pcpbuddy_fuzz $(TOP)/.kdir
