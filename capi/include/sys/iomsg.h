/*
 * <sys/iomsg.h> for qnet: the I/O messages a resource manager receives (QNX's numbers and
 * layouts), and the _IO_CONNECT message name_open() and open() send. QNX servers answer
 * what they do not handle with MsgError(rcvid, ENOSYS); user messages start at _IO_MAX + 1.
 *
 * Layouts are QNX's field order with Linux's types where QNX uses its own (off_t, struct
 * stat): programs compiled here exchange these with libqnetc, never with QNX itself.
 */
#ifndef _QNET_SYS_IOMSG_H
#define _QNET_SYS_IOMSG_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/neutrino.h>

#ifdef __cplusplus
extern "C" {
#endif

enum _msg_bases {
	_IO_BASE = 0x100,
	_IO_MAX = 0x1FF
};

/* Message types: _IO_BASE + the index of the handler in resmgr_io_funcs_t. */
enum _io_types {
	_IO_CONNECT = _IO_BASE,
	_IO_READ,
	_IO_WRITE,
	_IO_RSVD_CLOSE_OCB,
	_IO_STAT,
	_IO_NOTIFY,
	_IO_DEVCTL,
	_IO_RSVD_UNBLOCK,
	_IO_PATHCONF,
	_IO_LSEEK,
	_IO_CHMOD,
	_IO_CHOWN,
	_IO_UTIME,
	_IO_OPENFD,
	_IO_FDINFO,
	_IO_LOCK,
	_IO_SPACE,
	_IO_SHUTDOWN,
	_IO_MMAP,
	_IO_MSG,
	_IO_RSVD,
	_IO_DUP,
	_IO_CLOSE,
	_IO_RSVD_LOCK_OCB,
	_IO_RSVD_UNLOCK_OCB,
	_IO_SYNC,
	_IO_POWER
};

/* _io_connect.subtype */
enum _io_connect_subtypes {
	_IO_CONNECT_COMBINE,
	_IO_CONNECT_COMBINE_CLOSE,
	_IO_CONNECT_OPEN,
	_IO_CONNECT_UNLINK,
	_IO_CONNECT_RENAME,
	_IO_CONNECT_MKNOD,
	_IO_CONNECT_READLINK,
	_IO_CONNECT_LINK,
	_IO_CONNECT_RSVD_UNBLOCK,
	_IO_CONNECT_MOUNT
};

/* _io_connect.file_type, and resmgr_attach's file_type */
enum _file_type {
	_FTYPE_ANY, _FTYPE_FILE, _FTYPE_LINK, _FTYPE_SYMLINK, _FTYPE_PIPE, _FTYPE_SHMEM,
	_FTYPE_MQUEUE, _FTYPE_SOCKET, _FTYPE_SEM, _FTYPE_PHOTON, _FTYPE_DUMPER, _FTYPE_MOUNT,
	_FTYPE_NAME, _FTYPE_TYMEM
};

/* _io_connect.ioflag: open()'s flags with the access mode plus one. */
#define _IO_FLAG_RD 0x00000001
#define _IO_FLAG_WR 0x00000002
#define _IO_FLAG_MASK 0x00000003

/* _io_connect.eflag */
#define _IO_CONNECT_EFLAG_DIR  0x01
#define _IO_CONNECT_EFLAG_DOT  0x02
#define _IO_CONNECT_EFLAG_DOTDOT 0x04

/* combine_len: this message is followed by another in the same send. */
#define _IO_COMBINE_FLAG 0x8000

/* _io_read/_io_write.xtype */
enum _io_msg_xtypes {
	_IO_XTYPE_NONE,
	_IO_XTYPE_READCOND,
	_IO_XTYPE_MQUEUE,
	_IO_XTYPE_TCPIP,
	_IO_XTYPE_TCPIP_MSG,
	_IO_XTYPE_OFFSET,
	_IO_XTYPE_REGISTRY,
	_IO_XTYPE_TCPIP_MMSG,
	_IO_XTYPE_READDIR
};
#define _IO_XTYPE_MASK          0x000000ff
#define _IO_XFLAG_DIR_EXTRA_HINT 0x00000100
#define _IO_XFLAG_NONBLOCK      0x00004000
#define _IO_XFLAG_BLOCK         0x00008000

/* What follows an _IO_READ/_IO_WRITE header with _IO_XTYPE_OFFSET (pread/pwrite). */
struct _xtype_offset {
	uint64_t offset;
};

struct _xtype_readcond {
	int32_t min;
	int32_t time;
	int32_t timeout;
};

/* The connect message (header; the path follows, NUL-terminated). */
struct _io_connect {
	uint16_t type;
	uint16_t subtype;
	uint32_t file_type;
	uint16_t reply_max;
	uint16_t entry_max;
	uint32_t key;
	uint32_t handle;
	uint32_t ioflag;
	uint32_t mode;
	uint16_t sflag;
	uint16_t access;
	uint16_t zero;
	uint16_t path_len;
	uint8_t eflag;
	uint8_t extra_type;
	uint16_t extra_len;
	char path[1];
};

struct _io_connect_link_reply {
	uint32_t reserved1;
	uint32_t file_type;
	uint8_t eflag;
	uint8_t reserved2[1];
	uint16_t chroot_len;
	uint32_t umask;
	uint16_t nentries;
	uint16_t path_len;
};

struct _io_connect_ftype_reply {
	uint16_t status;
	uint16_t reserved;
	uint32_t file_type;
};

typedef union {
	struct _io_connect connect;
	struct _io_connect_link_reply link_reply;
	struct _io_connect_ftype_reply ftype_reply;
} io_connect_t;
typedef io_connect_t io_open_t;
typedef io_connect_t io_unlink_t;
typedef io_connect_t io_rename_t;
typedef io_connect_t io_mknod_t;
typedef io_connect_t io_readlink_t;
typedef io_connect_t io_link_t;
typedef io_connect_t io_mount_t;

/* The header every I/O message starts with. */
struct _io_msg {
	uint16_t type;
	uint16_t combine_len;
	uint16_t mgrid;
	uint16_t subtype;
	/* the program's data follows */
};
typedef union {
	struct _io_msg i;
} io_msg_t;

struct _io_close {
	uint16_t type;
	uint16_t combine_len;
};
typedef union {
	struct _io_close i;
} io_close_t;

struct _io_read {
	uint16_t type;
	uint16_t combine_len;
	int32_t nbytes;
	uint32_t xtype;
	uint32_t zero;
};
typedef union {
	struct _io_read i;
	/* nbytes of data are the reply; MsgReply's status is the count */
} io_read_t;

struct _io_write {
	uint16_t type;
	uint16_t combine_len;
	int32_t nbytes;
	uint32_t xtype;
	uint32_t zero;
	/* nbytes of data follow */
};
typedef union {
	struct _io_write i;
} io_write_t;

struct _io_stat {
	uint16_t type;
	uint16_t combine_len;
	uint32_t zero;
};
typedef union {
	struct _io_stat i;
	struct stat o;
} io_stat_t;

struct _io_lseek {
	uint16_t type;
	uint16_t combine_len;
	short whence;
	uint16_t zero;
	uint64_t offset;
};
typedef union {
	struct _io_lseek i;
	uint64_t o;
} io_lseek_t;

struct _io_devctl {
	uint16_t type;
	uint16_t combine_len;
	int32_t dcmd;
	int32_t nbytes;
	int32_t zero;
	/* nbytes of data follow */
};
struct _io_devctl_reply {
	uint32_t zero;
	int32_t ret_val;
	int32_t nbytes;
	int32_t zero2;
	/* nbytes of data follow */
};
typedef union {
	struct _io_devctl i;
	struct _io_devctl_reply o;
} io_devctl_t;
/* The data after a devctl header (msg->i or msg->o). */
#define _DEVCTL_DATA(_msg) ((void *)(sizeof(_msg) + (char *)(&(_msg))))

struct _io_pathconf {
	uint16_t type;
	uint16_t combine_len;
	short name;
	uint16_t zero;
};
typedef union {
	struct _io_pathconf i;
} io_pathconf_t;

struct _io_chmod {
	uint16_t type;
	uint16_t combine_len;
	mode_t mode;
};
typedef union {
	struct _io_chmod i;
} io_chmod_t;

struct _io_chown {
	uint16_t type;
	uint16_t combine_len;
	int32_t gid;
	int32_t uid;
};
typedef union {
	struct _io_chown i;
} io_chown_t;

struct _io_utime {
	uint16_t type;
	uint16_t combine_len;
	int32_t cur_flag;
	struct {
		int64_t actime;
		int64_t modtime;
	} times;
};
typedef union {
	struct _io_utime i;
} io_utime_t;

struct _io_sync {
	uint16_t type;
	uint16_t combine_len;
	uint32_t flag;
};
typedef union {
	struct _io_sync i;
} io_sync_t;

struct _io_dup {
	uint16_t type;
	uint16_t combine_len;
	struct _msg_info info;
	uint32_t reserved;
	uint32_t key;
};
typedef union {
	struct _io_dup i;
} io_dup_t;

/* Not implemented by qnet (their handlers get ENOSYS from clients that never send them);
 * declared so that resmgr_io_funcs_t has QNX's shape. */
struct _io_notify {
	uint16_t type;
	uint16_t combine_len;
	int32_t action;
	int32_t flags;
	struct sigevent event;
};
typedef union {
	struct _io_notify i;
} io_notify_t;
typedef union { struct _io_msg i; } io_openfd_t;
typedef union { struct _io_msg i; } io_fdinfo_t;
typedef union { struct _io_msg i; } io_lock_t;
typedef union { struct _io_msg i; } io_space_t;
typedef union { struct _io_msg i; } io_shutdown_t;
typedef union { struct _io_msg i; } io_mmap_t;
typedef union { struct _io_msg i; } io_power_t;

/* What a connect handler's unblock and an io unblock handler get: the unblock pulse. */
typedef struct _pulse io_pulse_t;

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(__builtin_offsetof(struct _io_connect, path) == 40, "_io_connect header is 40 bytes");
_Static_assert(sizeof(struct _io_read) == 16, "_io_read is 16 bytes");
_Static_assert(sizeof(struct _io_write) == 16, "_io_write is 16 bytes");
_Static_assert(sizeof(struct _io_devctl) == 16, "_io_devctl is 16 bytes");
_Static_assert(sizeof(struct _io_devctl_reply) == 16, "_io_devctl_reply is 16 bytes");
_Static_assert(sizeof(struct _io_lseek) == 16, "_io_lseek is 16 bytes");
_Static_assert(sizeof(struct _io_msg) == 8, "_io_msg is 8 bytes");
#endif

#endif
