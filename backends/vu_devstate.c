/*
 * A backend's own state for a snapshot (vhost-user DEVICE_STATE), what the
 * rings and the inflight region do not hold: which device it is, the
 * features the driver took and the device config the driver read, then
 * whatever the device adds (vu_backend.save_state).  Loading it into a new
 * backend checks that it serves the same device (name and config: the
 * same disk size, the same guest CID) under the same features, and hands
 * the device's part back to it.
 *
 * The blob: struct vu_state_hdr, cfg_len bytes of config, dev_len bytes
 * of the device's part.  It travels in the frontend's pipe, so it is
 * bounded (VU_STATE_MAX) and read to the pipe's end.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/runtime.h"
#include "lib/log.h"
#include "lib/util.h"

#define VU_STATE_MAGIC		"hyve-vus"
#define VU_STATE_VERSION	1

struct vu_state_hdr {
	char		magic[8];
	uint32_t	version;
	uint32_t	cfg_len;
	uint32_t	dev_len;
	uint32_t	pad;
	uint64_t	features;
	char		name[32];
};

/* The config's length: the longest read from 0 the device answers. */
static uint32_t
cfg_size(struct vu_dev *d, uint8_t *cfg)
{
	uint32_t len = VU_MAX_CONFIG;

	if (d->be->get_config == NULL)
		return 0;
	while (len > 0 && d->be->get_config(d, 0, cfg, len) < 0)
		len--;
	return len;
}

int
vu_state_save(struct vu_dev *d, int fd)
{
	static uint8_t buf[VU_STATE_MAX];
	struct vu_state_hdr *h = (void *)buf;
	uint8_t *cfg = buf + sizeof(*h);
	int n = 0, rc;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, VU_STATE_MAGIC, sizeof(h->magic));
	h->version = VU_STATE_VERSION;
	h->features = d->features;
	snprintf(h->name, sizeof(h->name), "%s", d->be->name);
	h->cfg_len = cfg_size(d, cfg);
	if (d->be->save_state != NULL && (n = d->be->save_state(d,
	    cfg + h->cfg_len, sizeof(buf) - sizeof(*h) - h->cfg_len)) < 0) {
		hlog("device state: the device cannot save its state: %s",
		    strerror(-n));
		return n;
	}
	h->dev_len = n;
	rc = write_all(fd, buf, sizeof(*h) + h->cfg_len + h->dev_len);
	if (rc < 0)
		hlog("device state: writing it to the frontend's channel: %s",
		    strerror(-rc));
	return rc;
}

/* Reads fd to its end into buf; -EFBIG if there is more than cap. */
static ssize_t
read_all(int fd, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	uint8_t extra;

	for (;;) {
		ssize_t n = len < cap ? read(fd, buf + len, cap - len) :
		    read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return len;
		if (len == cap)
			return -EFBIG;
		len += n;
	}
}

static bool
same_config(struct vu_dev *d, const uint8_t *saved, uint32_t len)
{
	uint8_t now[VU_MAX_CONFIG];

	if (cfg_size(d, now) != len)
		return false;
	if (d->be->state_config_ok != NULL)
		return d->be->state_config_ok(d, saved, now, len);
	return memcmp(saved, now, len) == 0;
}

int
vu_state_load(struct vu_dev *d, int fd)
{
	static uint8_t buf[VU_STATE_MAX];
	const struct vu_state_hdr *h = (const void *)buf;
	const uint8_t *cfg = buf + sizeof(*h);
	ssize_t len = read_all(fd, buf, sizeof(buf));

	if (len < 0) {
		hlog("device state: reading the frontend's channel: %s",
		    len == -EFBIG ? "more than a state can hold" :
		    strerror(-len));
		return len;
	}
	if ((size_t)len < sizeof(*h) ||
	    memcmp(h->magic, VU_STATE_MAGIC, sizeof(h->magic)) != 0) {
		hlog("device state: not a hyve backend's state (%zd bytes)",
		    len);
		return -EINVAL;
	}
	if (h->version != VU_STATE_VERSION) {
		hlog("device state: version %u, this backend reads %u",
		    h->version, VU_STATE_VERSION);
		return -EINVAL;
	}
	if (h->cfg_len > VU_MAX_CONFIG ||
	    (size_t)len != sizeof(*h) + h->cfg_len + h->dev_len) {
		hlog("device state: its lengths do not add up to its %zd "
		    "bytes", len);
		return -EINVAL;
	}
	if (strncmp(h->name, d->be->name, sizeof(h->name)) != 0) {
		hlog("device state: it is a %.*s's, this is a %s",
		    (int)sizeof(h->name), h->name, d->be->name);
		return -EINVAL;
	}
	if (h->features != d->features) {
		hlog("device state: saved with features %#llx, the driver "
		    "now has %#llx", (unsigned long long)h->features,
		    (unsigned long long)d->features);
		return -EINVAL;
	}
	if (!same_config(d, cfg, h->cfg_len)) {
		hlog("device state: this device's config differs from the "
		    "saved one (another disk size, CID or MTU?)");
		return -EINVAL;
	}
	if (d->be->load_state != NULL)
		return d->be->load_state(d, cfg + h->cfg_len, h->dev_len);
	if (h->dev_len != 0) {
		hlog("device state: %u bytes of device state this device "
		    "does not take", h->dev_len);
		return -EINVAL;
	}
	return 0;
}
