/* SPDX-License-Identifier: MIT */
/*
 * The cmabuf wire protocol, whole: shared by cmabufd, libcmabuf and cmabufctl.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket, so one datagram is one message
 * and message boundaries are the kernel's business. Integers are in host byte
 * order (both ends are on the same machine). Every message is a fixed header
 * followed by exactly one payload struct (or, for list replies, a fixed part and
 * an array of entries). File descriptors travel as SCM_RIGHTS and the header says
 * how many: a mismatch is a protocol error.
 *
 * The first message on a connection must be HELLO; a client speaking another
 * version gets an ERROR naming both versions and the connection is closed.
 * Replies echo the request's sequence number. Server-initiated events use
 * sequence number 0. See docs/protocol.md.
 */
#ifndef CMABUF_PROTOCOL_H
#define CMABUF_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define CMABUF_PROTOCOL_VERSION 1u

/* No datagram is larger: the receiver reads into a buffer of this size and
 * treats a truncated (MSG_TRUNC) read as a protocol error. */
#define CMABUF_MSG_MAX	   4096u
#define CMABUF_MSG_MAX_FDS 1u

#define CMABUF_NAME_LEN	   64u	/* buffer names, NUL-terminated within */
#define CMABUF_POOL_LEN	   32u	/* pool names */
#define CMABUF_REASON_LEN  256u /* human-readable error reasons */
#define CMABUF_BACKEND_LEN 16u

enum cmabuf_msg_type {
	CMABUF_MSG_HELLO = 1,	       /* c→s  struct cmabuf_msg_hello */
	CMABUF_MSG_HELLO_REPLY,	       /* s→c  struct cmabuf_msg_hello_reply */
	CMABUF_MSG_ERROR,	       /* s→c  struct cmabuf_msg_error */
	CMABUF_MSG_ALLOC,	       /* c→s  struct cmabuf_msg_alloc */
	CMABUF_MSG_ALLOC_REPLY,	       /* s→c  struct cmabuf_msg_alloc_reply + 1 fd */
	CMABUF_MSG_FREE,	       /* c→s  struct cmabuf_msg_free */
	CMABUF_MSG_OK,		       /* s→c  no payload: the request succeeded */
	CMABUF_MSG_STATUS,	       /* c→s  no payload */
	CMABUF_MSG_STATUS_REPLY,       /* s→c  struct cmabuf_msg_status_reply */
	CMABUF_MSG_LIST_BUFFERS,       /* c→s  struct cmabuf_msg_list_buffers */
	CMABUF_MSG_LIST_BUFFERS_REPLY, /* s→c struct cmabuf_msg_buffers_reply + entries */
	CMABUF_MSG_SET_PURGEABLE,      /* c→s struct cmabuf_msg_set_purgeable */
	CMABUF_MSG_PURGEABLE_REPLY,    /* s→c struct cmabuf_msg_purgeable_reply */
	CMABUF_MSG_RECLAIM,	       /* s→c event (seq 0): struct cmabuf_msg_reclaim */
	/* What the daemon shows about itself: cmabufctl metrics, clients, map, why. */
	CMABUF_MSG_METRICS,		/* c→s  no payload */
	CMABUF_MSG_METRICS_REPLY,	/* s→c  struct cmabuf_msg_metrics_reply */
	CMABUF_MSG_LIST_CLIENTS,	/* c→s  struct cmabuf_msg_list_clients */
	CMABUF_MSG_LIST_CLIENTS_REPLY,	/* s→c  list head + struct cmabuf_client_entry[] */
	CMABUF_MSG_LIST_EXTENTS,	/* c→s  struct cmabuf_msg_list_extents */
	CMABUF_MSG_LIST_EXTENTS_REPLY,	/* s→c  list head + struct cmabuf_extent_entry[] */
	CMABUF_MSG_LIST_REFUSALS,	/* c→s  struct cmabuf_msg_list_refusals */
	CMABUF_MSG_LIST_REFUSALS_REPLY, /* s→c  list head + struct cmabuf_refusal_entry[] */
	/*
	 * FREE without a reply, what cmabuf_free() sends: the round trip it saves is
	 * half the cost of an alloc/free pair. Requests on one connection are handled
	 * in order, so a later ALLOC already sees the freed range. An id this
	 * connection does not own is ignored: the kernel may have reported the
	 * buffer released before the FREE was read.
	 */
	CMABUF_MSG_FREE_NOREPLY, /* c→s  struct cmabuf_msg_free; no reply, ever */
	CMABUF_MSG_TYPE_COUNT
};

struct cmabuf_msg_header {
	uint16_t type;	 /* enum cmabuf_msg_type */
	uint16_t nfds;	 /* SCM_RIGHTS descriptors attached to this datagram */
	uint32_t length; /* payload bytes following this header */
	uint32_t seq;	 /* chosen by the client, echoed in the reply; 0 for events */
	uint32_t reserved;
};

struct cmabuf_msg_hello {
	uint32_t version; /* CMABUF_PROTOCOL_VERSION */
	uint32_t flags;	  /* none defined yet; must be 0 */
};

#define CMABUF_HELLO_HAS_DEV_ADDR (1u << 0) /* this client may learn device addresses */

struct cmabuf_msg_hello_reply {
	uint32_t version;
	uint32_t flags; /* CMABUF_HELLO_* */
	uint64_t region_size;
	char backend[CMABUF_BACKEND_LEN]; /* "memfd", "uio" */
};

struct cmabuf_msg_error {
	int32_t error;	       /* negative errno */
	uint32_t request_type; /* the type of the refused request */
	char reason[CMABUF_REASON_LEN];
};

struct cmabuf_msg_alloc {
	uint64_t size;
	uint64_t align; /* 0: page; otherwise a power of two */
	uint32_t flags; /* CMABUF_ALLOC_* from cmabuf.h */
	uint32_t pad;
	char pool[CMABUF_POOL_LEN];
	char name[CMABUF_NAME_LEN];
};

#define CMABUF_BUFFER_DEV_ADDR_VALID (1u << 0)

struct cmabuf_msg_alloc_reply {
	uint64_t id;
	uint64_t size;	   /* bytes usable: the request rounded up to the page */
	uint64_t dev_addr; /* meaningful only with CMABUF_BUFFER_DEV_ADDR_VALID */
	uint32_t flags;
	uint32_t pad;
};

struct cmabuf_msg_free {
	uint64_t id;
};

#define CMABUF_HEAP_NONE	 0u /* the backend has no heap door (memfd) */
#define CMABUF_HEAP_SERVED	 1u /* heap_node's ALLOCs come to this cmabufd */
#define CMABUF_HEAP_NO_NODE	 2u /* the stub offers no dma-heap node for this region */
#define CMABUF_HEAP_OLD_STUB	 3u /* the stub predates the heap door (uio_cma ABI < 3) */
#define CMABUF_HEAP_SERVE_FAILED 4u /* the stub refused to forward its ALLOCs: see the log */
#define CMABUF_HEAP_NODE_LEN	 64u

struct cmabuf_msg_status_reply {
	char backend[CMABUF_BACKEND_LEN];
	uint64_t region_base; /* device address of the region's first byte */
	uint64_t region_size;
	uint64_t used;
	uint64_t free;
	uint64_t largest_free;
	uint64_t pending_release; /* bytes freed by owners, still held by someone */
	uint64_t zeroing;	  /* bytes released and being cleared before reuse */
	uint32_t free_extents;
	uint32_t buffers;
	uint32_t clients;
	uint32_t reloads; /* SIGHUPs handled, whether the new policy was taken or not */
	uint64_t uptime_ms;
	uint64_t allocations; /* since start */
	uint64_t failures;
	uint32_t flags; /* CMABUF_STATUS_* */
	uint32_t pad;
	/* The dma-heap door (docs/operations.md): CMABUF_HEAP_* */
	uint32_t heap_state;
	uint32_t heap_callers;		      /* processes holding heap buffers or waiting */
	uint32_t heap_waiting;		      /* heap requests not answered yet */
	uint32_t heap_buffers;		      /* handed to heap callers, not released yet */
	uint64_t heap_bytes;		      /* their bytes (not in pending_release) */
	char heap_node[CMABUF_HEAP_NODE_LEN]; /* "/dev/dma_heap/NAME", or "" */
};

/*
 * A uio_cma region exists that this daemon does not use: it started on memfd
 * (no --backend) before the region appeared. A restart moves to it.
 */
#define CMABUF_STATUS_UIO_REGION_UNUSED (1u << 0)

struct cmabuf_msg_list_buffers {
	uint64_t after_id; /* 0 for the first page; then the last id received */
};

#define CMABUF_BUFFER_RELEASE_PENDING (1u << 0) /* freed by owner, still referenced */
#define CMABUF_BUFFER_PURGEABLE	      (1u << 1)
#define CMABUF_BUFFER_RECLAIMABLE     (1u << 2)
#define CMABUF_BUFFER_PURGED	      (1u << 3) /* memory taken back; no range */
/* offset is 0, withheld: this client may not learn device addresses (base + offset) */
#define CMABUF_BUFFER_OFFSET_HIDDEN (1u << 4)
/* handed to a /dev/dma_heap caller, which holds it until it closes it (heap door) */
#define CMABUF_BUFFER_HEAP (1u << 5)
/* alive from an earlier cmabufd (stub LIST, fd store): its owner is unknown */
#define CMABUF_BUFFER_ADOPTED (1u << 6)

struct cmabuf_buffer_entry {
	uint64_t id;
	uint64_t offset;
	uint64_t size;
	uint64_t created_ms; /* CLOCK_REALTIME, milliseconds */
	uint32_t pid;
	uint32_t uid;
	uint32_t flags; /* CMABUF_BUFFER_* */
	uint32_t pad;
	char name[CMABUF_NAME_LEN];
};

struct cmabuf_msg_buffers_reply {
	uint32_t count; /* entries that follow */
	uint32_t more;	/* 1 if another page exists */
};

#define CMABUF_LIST_MAX_ENTRIES                                                                    \
	((CMABUF_MSG_MAX - sizeof(struct cmabuf_msg_header) -                                      \
	  sizeof(struct cmabuf_msg_buffers_reply)) /                                               \
	 sizeof(struct cmabuf_buffer_entry))

struct cmabuf_msg_set_purgeable {
	uint64_t id;
	uint32_t purgeable; /* 1: contents may be discarded while unpinned; 0: pin */
	uint32_t pad;
};

struct cmabuf_msg_purgeable_reply {
	uint32_t was_purged; /* 1: the contents are gone (uio: the buffer is revoked) */
	uint32_t pad;
};

/*
 * The daemon needs this reclaimable buffer back: free it within deadline_ms,
 * or the allocation that asked for it fails naming this connection.
 */
struct cmabuf_msg_reclaim {
	uint64_t id;
	uint32_t deadline_ms;
	uint32_t pad;
};

/*
 * METRICS: one reply with everything a monitoring system scrapes. It is a
 * single fixed-size datagram, so its arrays are bounded: every class the
 * configuration can hold (32 + the default class), and the CMABUF_METRICS_MAX_UIDS
 * uids holding the most bytes (the rest are counted in uids_omitted).
 */
#define CMABUF_CLASS_LEN	   32u /* class names, as in the configuration */
#define CMABUF_METRICS_MAX_CLASSES 33u
#define CMABUF_METRICS_MAX_UIDS	   64u
/* Allocation latency buckets: bucket k counts requests that took <= 2^k µs (1 µs .. ~1.05 s). */
#define CMABUF_LATENCY_BUCKETS 21u

/* Why ALLOCs were refused, for the failure counters. */
enum cmabuf_failure_kind {
	CMABUF_FAIL_ENOMEM,  /* no room, even after eviction */
	CMABUF_FAIL_QUOTA,   /* EDQUOT, ENOSPC, EACCES: a limit or pool rule */
	CMABUF_FAIL_INVALID, /* EINVAL: the request itself was wrong */
	CMABUF_FAIL_OTHER,   /* anything else (EBUSY, backend errors) */
	CMABUF_FAIL_KINDS
};

/* The doors requests come in by, for the counters by door. */
#define CMABUF_DOOR_SOCKET 0u /* libcmabuf clients */
#define CMABUF_DOOR_HEAP   1u /* /dev/dma_heap callers */
#define CMABUF_DOORS	   2u

struct cmabuf_class_usage {
	char name[CMABUF_CLASS_LEN];
	uint64_t bytes; /* memory charged to the class (purged buffers hold none) */
	uint32_t buffers;
	uint32_t pad;
};

struct cmabuf_uid_usage {
	uint32_t uid;
	uint32_t buffers; /* in the ledger, release pending included */
	uint64_t bytes;	  /* memory they hold */
};

#define CMABUF_METRICS_ALL_UIDS (1u << 0) /* uids[] covers every uid, not just the caller's */

struct cmabuf_msg_metrics_reply {
	uint64_t region_size;
	uint64_t used; /* as in STATUS: placed bytes, not counting ranges being zeroed */
	uint64_t free;
	uint64_t largest_free;
	uint64_t pending_release;
	uint64_t zeroing;
	uint32_t free_extents;
	uint32_t buffers;
	uint32_t clients;
	uint32_t reloads;
	uint64_t uptime_ms;
	uint64_t allocations;			  /* successful ALLOCs since start */
	uint64_t failures[CMABUF_FAIL_KINDS];	  /* refused ALLOCs, by enum cmabuf_failure_kind */
	uint64_t evictions;			  /* purgeable buffers taken back */
	uint64_t reclaims_requested;		  /* RECLAIM events sent */
	uint64_t reclaim_timeouts;		  /* waiting ALLOCs whose deadline passed */
	uint64_t latency[CMABUF_LATENCY_BUCKETS]; /* per bucket, not cumulative */
	uint64_t latency_count;			  /* every observation, slower ones included */
	uint64_t latency_sum_ns;
	uint32_t nclasses; /* entries used in classes[] */
	uint32_t nuids;	   /* entries used in uids[] */
	uint32_t uids_omitted;
	uint32_t flags; /* CMABUF_METRICS_* */
	struct cmabuf_class_usage classes[CMABUF_METRICS_MAX_CLASSES];
	struct cmabuf_uid_usage uids[CMABUF_METRICS_MAX_UIDS]; /* ascending uid */
	uint64_t door_allocations[CMABUF_DOORS];	       /* successful ALLOCs by door */
	uint64_t door_failures[CMABUF_DOORS];		       /* refused ALLOCs by door */
};

/*
 * The paged lists below answer with the LIST_BUFFERS head (count, more)
 * followed by count entries, and page the same way.
 */
#define CMABUF_LIST_FIT(entry)                                                                     \
	((CMABUF_MSG_MAX - sizeof(struct cmabuf_msg_header) -                                      \
	  sizeof(struct cmabuf_msg_buffers_reply)) /                                               \
	 sizeof(entry))

struct cmabuf_msg_list_clients {
	uint32_t start_conn; /* list connections with conn >= start_conn: 0, then last + 1 */
	uint32_t pad;
};

#define CMABUF_CLIENT_WAITING (1u << 0) /* an ALLOC of it waits for reclaimed memory */
#define CMABUF_CLIENT_SELF    (1u << 1) /* the connection that asked */
#define CMABUF_CLIENT_HEAP    (1u << 2) /* a /dev/dma_heap caller (a process, not a connection) */

struct cmabuf_client_entry {
	uint32_t conn; /* the daemon's number for the connection, unique while it lasts */
	uint32_t pid;
	uint32_t uid;
	int32_t priority;
	uint32_t buffers; /* charged to it, release pending included */
	uint32_t flags;	  /* CMABUF_CLIENT_* */
	uint64_t bytes;
	char class_name[CMABUF_CLASS_LEN];
	char command[16]; /* a heap caller's (the thread of its first request); else "" */
};

#define CMABUF_LIST_MAX_CLIENTS CMABUF_LIST_FIT(struct cmabuf_client_entry)

struct cmabuf_msg_list_extents {
	uint64_t start_offset; /* free extents at or after this offset: 0, then last end */
};

/* Free and zeroed. Region bytes in neither a buffer nor a free extent are being zeroed. */
struct cmabuf_extent_entry {
	uint64_t offset;
	uint64_t size;
};

#define CMABUF_LIST_MAX_EXTENTS CMABUF_LIST_FIT(struct cmabuf_extent_entry)

struct cmabuf_msg_list_refusals {
	uint64_t before_serial; /* 0: start with the newest; then the last serial received */
};

struct cmabuf_refusal_entry {
	uint64_t serial;  /* 1, 2, ... per daemon start; newest first in a reply */
	uint64_t time_ms; /* CLOCK_REALTIME, milliseconds */
	uint64_t size;	  /* bytes asked for */
	uint32_t pid;
	uint32_t uid;
	int32_t error; /* negative errno, as in the ERROR reply */
	uint32_t pad;
	char name[CMABUF_NAME_LEN];
	char reason[CMABUF_REASON_LEN]; /* the ERROR reply's reason */
};

#define CMABUF_LIST_MAX_REFUSALS CMABUF_LIST_FIT(struct cmabuf_refusal_entry)

_Static_assert(sizeof(struct cmabuf_msg_header) + sizeof(struct cmabuf_msg_metrics_reply) <=
		       CMABUF_MSG_MAX,
	       "METRICS_REPLY must fit one datagram: shrink CMABUF_METRICS_MAX_UIDS");

/* A decoded message: the header plus a suitably aligned copy of the payload. */
struct cmabuf_msg {
	struct cmabuf_msg_header hdr;
	union {
		struct cmabuf_msg_hello hello;
		struct cmabuf_msg_hello_reply hello_reply;
		struct cmabuf_msg_error error;
		struct cmabuf_msg_alloc alloc;
		struct cmabuf_msg_alloc_reply alloc_reply;
		struct cmabuf_msg_free free;
		struct cmabuf_msg_status_reply status_reply;
		struct cmabuf_msg_list_buffers list_buffers;
		struct cmabuf_msg_set_purgeable set_purgeable;
		struct cmabuf_msg_purgeable_reply purgeable_reply;
		struct cmabuf_msg_reclaim reclaim;
		struct cmabuf_msg_metrics_reply metrics_reply;
		struct cmabuf_msg_list_clients list_clients;
		struct cmabuf_msg_list_extents list_extents;
		struct cmabuf_msg_list_refusals list_refusals;
		struct {
			struct cmabuf_msg_buffers_reply head;
			struct cmabuf_client_entry entries[CMABUF_LIST_MAX_CLIENTS];
		} clients_reply;
		struct {
			struct cmabuf_msg_buffers_reply head;
			struct cmabuf_extent_entry entries[CMABUF_LIST_MAX_EXTENTS];
		} extents_reply;
		struct {
			struct cmabuf_msg_buffers_reply head;
			struct cmabuf_refusal_entry entries[CMABUF_LIST_MAX_REFUSALS];
		} refusals_reply;
		struct {
			struct cmabuf_msg_buffers_reply head;
			struct cmabuf_buffer_entry entries[CMABUF_LIST_MAX_ENTRIES];
		} buffers_reply;
		unsigned char raw[CMABUF_MSG_MAX];
	} u;
};

enum cmabuf_msg_dir {
	CMABUF_TO_SERVER, /* requests */
	CMABUF_TO_CLIENT, /* replies and events */
};

/*
 * Decodes one datagram. Pure: no I/O, no allocation. Checks, in order: the
 * datagram holds a header; the header's length equals what follows; the type is
 * known and travels in direction dir; the payload size is exactly the type's;
 * the fd count received equals both the header's and the type's; strings are
 * NUL-terminated within their fields; reserved fields and padding are zero.
 * Returns 0 or a negative errno (-EBADMSG malformed, -EPROTO wrong type or
 * direction, -EMSGSIZE oversize); *out is filled only on success.
 */
int cmabuf_msg_decode(const void *buf, size_t len, unsigned nfds, enum cmabuf_msg_dir dir,
		      struct cmabuf_msg *out);

/*
 * Encodes header + payload into buf (capacity cap). nfds is recorded in the
 * header; the caller attaches the descriptors. Returns the datagram length or
 * a negative errno (-EMSGSIZE if it does not fit, -EINVAL unknown type or a
 * payload length the type does not allow).
 */
long cmabuf_msg_encode(void *buf, size_t cap, uint16_t type, uint32_t seq, const void *payload,
		       size_t payload_len, unsigned nfds);

/* "ALLOC", "HELLO", ...; "UNKNOWN" for anything else. */
const char *cmabuf_msg_type_name(unsigned type);

/* Copies a C string into a fixed field, truncating and always NUL-terminating. */
void cmabuf_copy_name(char *dst, size_t cap, const char *src);

/*
 * What is wrong with a buffer name, or NULL if nothing: names reach the
 * journal, JSON output and /proc/PID/fdinfo, so they must be UTF-8 without
 * control characters, and fit CMABUF_NAME_LEN with their NUL.
 */
const char *cmabuf_name_problem(const char *name);
/* The same rules for any label held in a field of cap bytes (pool names: CMABUF_POOL_LEN). */
const char *cmabuf_label_problem(const char *label, size_t cap);

#endif
