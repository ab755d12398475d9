#ifndef HYVE_VHOST_USER_H
#define HYVE_VHOST_USER_H

/*
 * vhost-user protocol: message layout, validation and fd passing.
 * Message numbers and payloads follow QEMU's docs/interop/vhost-user.rst.
 * The payload structs for vring state and address are the kernel's
 * (linux/vhost_types.h); vhost-user itself is not in the UAPI.
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/vhost_types.h>

enum vu_request {
	VU_NONE = 0,
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_POSTCOPY_ADVISE = 28,
	VU_POSTCOPY_LISTEN = 29,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_SET_DEVICE_STATE_FD = 42,
	VU_CHECK_DEVICE_STATE = 43,
	VU_REQUEST_MAX = 44,
};

/* Header flags. */
#define VU_VERSION		0x1u
#define VU_FLAG_VERSION_MASK	0x3u
#define VU_FLAG_REPLY		(1u << 2)
#define VU_FLAG_NEED_REPLY	(1u << 3)

/* Virtio feature bit that announces GET/SET_PROTOCOL_FEATURES. */
#define VU_F_PROTOCOL_FEATURES	30

/* Protocol feature bits. */
#define VU_PF_MQ		0
#define VU_PF_LOG_SHMFD		1
#define VU_PF_RARP		2
#define VU_PF_REPLY_ACK		3
#define VU_PF_MTU		4
#define VU_PF_BACKEND_REQ	5
#define VU_PF_CROSS_ENDIAN	6
#define VU_PF_PAGEFAULT		8
#define VU_PF_CONFIG		9
#define VU_PF_INFLIGHT_SHMFD	12
#define VU_PF_RESET_DEVICE	13
#define VU_PF_DEVICE_STATE	19

/*
 * SET_DEVICE_STATE_FD: the backend's own state, through the fd passed
 * (a pipe): written to it and closed (save), or read to its end (load),
 * with the rings stopped.  The reply's u64 is 0 on success, with bit 8
 * set when the backend passes back no channel of its own.
 */
#define VU_STATE_SAVE		0
#define VU_STATE_LOAD		1
#define VU_STATE_STOPPED	0	/* the only phase */
#define VU_STATE_NOFD		(1ull << 8)
#define VU_STATE_MAX		65536	/* hyve's backends' state, at most */

/*
 * PAGEFAULT, as hyve uses it (a restore that leaves guest RAM in the
 * snapshot's file): POSTCOPY_ADVISE hands the front-end the backend's
 * userfaultfd, made before the backend was confined; after
 * POSTCOPY_LISTEN, SET_MEM_TABLE is answered with the table the backend
 * mapped, its own address of each region in uaddr.  Unlike the spec's
 * flow the front-end registers those ranges itself: the backend's
 * sandbox has no userfaultfd ioctls, and it keeps no copy of the fd.
 */

/* SET_VRING_KICK/CALL/ERR payload: ring index in bits 0-7, bit 8 = no fd. */
#define VU_VRING_IDX_MASK	0xffull
#define VU_VRING_NOFD		(1ull << 8)

#define VU_MAX_FDS		8
#define VU_MAX_REGIONS		8
#define VU_MAX_QUEUES		64
#define VU_MAX_QUEUE_SIZE	32768
#define VU_MAX_CONFIG		256
#define VU_CONFIG_HDR		12

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes that follow */
} __attribute__((packed));

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;		/* the frontend's virtual address */
	uint64_t mmap_offset;
};

struct vu_memtable {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_REGIONS];
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_MAX_CONFIG];
};

struct vu_state_xfer {
	uint32_t direction;	/* VU_STATE_SAVE or VU_STATE_LOAD */
	uint32_t phase;		/* VU_STATE_STOPPED */
};

struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

union vu_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct vu_memtable mem;
	struct vu_config config;
	struct vu_inflight inflight;
	struct vu_state_xfer xfer;
};

#define VU_MAX_PAYLOAD	((uint32_t)sizeof(union vu_payload))

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	int nfds;
};

const char *vu_request_name(uint32_t req);

/* Builders: set header (version 1, no flags) and payload size. */
void vu_msg_init(struct vu_msg *m, uint32_t req, uint32_t size);
void vu_msg_u64(struct vu_msg *m, uint32_t req, uint64_t v);
void vu_msg_state(struct vu_msg *m, uint32_t req, unsigned idx, unsigned num);
void vu_msg_vring_fd(struct vu_msg *m, uint32_t req, unsigned idx, int fd);
int vu_msg_add_fd(struct vu_msg *m, int fd);
void vu_msg_close_fds(struct vu_msg *m);

/*
 * Send one message with its fds (SCM_RIGHTS).  Does not close the fds.
 * Returns 0 or -errno.
 */
int vu_send(int sock, const struct vu_msg *m);

/*
 * Receive one message.  Checks the header only (version, size limit, fd
 * count); on error every received fd is closed.  Returns 0, -ECONNRESET at
 * end of stream, -EBADMSG for a malformed message, or -errno.
 */
int vu_recv(int sock, struct vu_msg *m);

/*
 * Checks a request received by a backend: payload size and fd count per
 * request, payload contents (vring index below nqueues, region table).
 * Returns 0, -EBADMSG or -EINVAL; *why names what is wrong.
 */
int vu_validate(const struct vu_msg *m, unsigned nqueues, const char **why);

/* Checks a region table: 1..8 regions, none empty, wrapping or overlapping. */
int vu_check_memtable(const struct vu_memtable *t, const char **why);

/* Checks a reply to request req received by a frontend. */
int vu_validate_reply(const struct vu_msg *m, uint32_t req, const char **why);

/* Whether the backend answers request req even without NEED_REPLY. */
bool vu_has_reply(uint32_t req);

/*
 * Frontend helper: send m; if the request has a reply (or NEED_REPLY is
 * set), receive and validate it into *reply.  Returns 0 or -errno.
 */
int vu_call(int sock, const struct vu_msg *m, struct vu_msg *reply);

#endif
