#include <errno.h>

#include "ipc/virtq.h"

int
virtq_layout(unsigned num, unsigned align, struct virtq_layout *l)
{
	if (!virtq_num_valid(num) || align < VRING_USED_ALIGN_SIZE ||
	    (align & (align - 1)))
		return -EINVAL;
	l->desc = 0;
	l->avail = virtq_desc_size(num);
	l->used = (l->avail + virtq_avail_size(num) + align - 1) &
	    ~(uint64_t)(align - 1);
	l->size = l->used + virtq_used_size(num);
	return 0;
}

bool
virtq_aligned(uint64_t desc, uint64_t avail, uint64_t used)
{
	return (desc % VRING_DESC_ALIGN_SIZE) == 0 &&
	    (avail % VRING_AVAIL_ALIGN_SIZE) == 0 &&
	    (used % VRING_USED_ALIGN_SIZE) == 0;
}
