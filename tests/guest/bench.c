#include "virtio.h"

int
test_bench_blk(char *why, size_t len)
{
	snprintf_(why, len, "not yet");
	return FAIL;
}

int
test_bench_net(char *why, size_t len)
{
	snprintf_(why, len, "not yet");
	return FAIL;
}
