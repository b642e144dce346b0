// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_consumer: an in-kernel user of pcpbuddy's exported API, loaded by
 * the selftests. It checks what it gets at init and fails to load (with a
 * "pcpbuddy_consumer: FAIL ..." line in dmesg) if anything is wrong.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/pcpbuddy.h>

static int __init pcpbuddy_consumer_init(void)
{
	struct pcpbuddy_info info = {};
	int ret;

	ret = pcpbuddy_get_info(NULL);
	if (ret != -EINVAL) {
		pr_err("pcpbuddy_consumer: FAIL get_info(NULL) = %d, want -EINVAL\n", ret);
		return -EINVAL;
	}
	ret = pcpbuddy_get_info(&info);
	if (ret) {
		pr_err("pcpbuddy_consumer: FAIL get_info = %d\n", ret);
		return ret;
	}
	if (info.abi_version != PCPBUDDY_ABI_VERSION ||
	    info.block_order != pageblock_order || info.page_size != PAGE_SIZE ||
	    info.nr_cpu_ids != nr_cpu_ids) {
		pr_err("pcpbuddy_consumer: FAIL info abi %u order %u page %u cpus %u\n",
		       info.abi_version, info.block_order, info.page_size, info.nr_cpu_ids);
		return -EINVAL;
	}
	pr_info("pcpbuddy_consumer: ok abi %u pageblock_order %u pool %llu bytes\n",
		info.abi_version, info.block_order, info.size_bytes);
	return 0;
}

static void __exit pcpbuddy_consumer_exit(void)
{
}

module_init(pcpbuddy_consumer_init);
module_exit(pcpbuddy_consumer_exit);
MODULE_DESCRIPTION("pcpbuddy in-kernel API consumer (selftest)");
MODULE_LICENSE("GPL");
