// SPDX-License-Identifier: GPL-2.0
/*
 * uapi_test: drives /dev/pcpbuddy from user space for the selftests, built
 * against the uapi header so that the ABI is checked from the C side too.
 *
 *   uapi_test info      PCPBUDDY_IOC_INFO answers and is sane
 *   uapi_test enotty    an unknown command fails with ENOTTY
 *   uapi_test efault    a bad user pointer fails with EFAULT
 *
 * Exit 0 on success; on failure one line on stderr says what was wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/pcpbuddy.h>

#define DEVICE "/dev/pcpbuddy"

static int fail(const char *what)
{
	fprintf(stderr, "uapi_test: %s\n", what);
	return 1;
}

static int expect_errno(int fd, unsigned long cmd, void *arg, int want, const char *what)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret != -1 || errno != want) {
		fprintf(stderr, "uapi_test: %s: ioctl returned %d errno %d (%s), want errno %d\n",
			what, ret, errno, strerror(errno), want);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pcpbuddy_info info;
	int fd;

	if (argc != 2)
		return fail("usage: uapi_test info|enotty|efault");
	fd = open(DEVICE, O_RDWR);
	if (fd < 0) {
		perror("uapi_test: open " DEVICE);
		return 1;
	}
	if (!strcmp(argv[1], "info")) {
		memset(&info, 0xff, sizeof(info));
		if (ioctl(fd, PCPBUDDY_IOC_INFO, &info))
			return fail("PCPBUDDY_IOC_INFO failed");
		printf("abi_version %u pageblock_order %u page_size %u nr_cpu_ids %u source %u node %d size_bytes %llu\n",
		       info.abi_version, info.block_order, info.page_size, info.nr_cpu_ids,
		       info.source, info.node, (unsigned long long)info.size_bytes);
		if (info.abi_version != PCPBUDDY_ABI_VERSION)
			return fail("abi_version mismatch");
		if (info.block_order < 1 || info.block_order > 10)
			return fail("pageblock_order out of range");
		if (info.page_size != (unsigned int)getpagesize())
			return fail("page_size is not the system page size");
		if (info.nr_cpu_ids < 1 || info.size_bytes == 0)
			return fail("nr_cpu_ids or size_bytes is zero");
		return 0;
	}
	if (!strcmp(argv[1], "enotty"))
		return expect_errno(fd, _IO(PCPBUDDY_IOC_MAGIC, 0x7f), NULL, ENOTTY, "unknown command") |
		       expect_errno(fd, _IOR(PCPBUDDY_IOC_MAGIC, 0x00, int), &info, ENOTTY,
				    "INFO with a wrong size");
	if (!strcmp(argv[1], "efault"))
		return expect_errno(fd, PCPBUDDY_IOC_INFO, (void *)16, EFAULT, "INFO to a bad pointer");
	return fail("unknown subcommand");
}
