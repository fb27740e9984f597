/*
 * <sys/resmgr.h> for qnet: the resource-manager layer (resmgr_attach, the context a handler
 * gets, the connect and I/O handler tables, replies). QNX's field order: programs fill
 * these tables by position.
 *
 * Include <sys/iofunc.h> before this header (as QNX documents) so that RESMGR_HANDLE_T and
 * RESMGR_OCB_T are the iofunc types (or the program's own, defined before both).
 */
#ifndef _QNET_SYS_RESMGR_H
#define _QNET_SYS_RESMGR_H

#include <stdint.h>
#include <sys/neutrino.h>
#include <sys/iomsg.h>

#ifndef RESMGR_HANDLE_T
#ifdef IOFUNC_ATTR_T
#define RESMGR_HANDLE_T IOFUNC_ATTR_T
#else
#define RESMGR_HANDLE_T struct _iofunc_attr
#endif
#endif
#ifndef RESMGR_OCB_T
#ifdef IOFUNC_OCB_T
#define RESMGR_OCB_T IOFUNC_OCB_T
#else
#define RESMGR_OCB_T struct _iofunc_ocb
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Names the handle and OCB types at file scope (a struct tag first seen in a parameter list
 * would be a different type from the program's). */
struct _qnet_resmgr_tags {
	RESMGR_HANDLE_T *__handle;
	RESMGR_OCB_T *__ocb;
};
struct _dispatch;

/* Every message a resource manager may receive, overlaid on its receive buffer. */
typedef union _resmgr_iomsgs {
	uint16_t type;
	struct _pulse pulse;
	io_connect_t connect;
	io_read_t read;
	io_write_t write;
	io_close_t close;
	io_stat_t stat;
	io_devctl_t devctl;
	io_lseek_t lseek;
	io_msg_t msg;
	io_pathconf_t pathconf;
	io_chmod_t chmod;
	io_chown_t chown;
	io_utime_t utime;
	io_sync_t sync;
	io_dup_t dup;
	io_notify_t notify;
} resmgr_iomsgs_t;

/* What each handler gets: the message, who sent it, and room for the reply. */
typedef struct _resmgr_context {
	rcvid_t rcvid;
	struct _msg_info info;
	resmgr_iomsgs_t *msg;
	struct _dispatch *dpp;
	int id;
	unsigned tid;
	unsigned msg_max_size;
	int status;
	int offset;
	int size;
	iov_t iov[1]; /* nparts_max of them */
} resmgr_context_t;

/* resmgr_attach's attributes. */
typedef struct _resmgr_attr {
	unsigned flags;
	unsigned nparts_max;
	unsigned msg_max_size;
	int (*other_func)(resmgr_context_t *ctp, void *msg);
	unsigned reserved[4];
} resmgr_attr_t;

/* resmgr_attr_t.flags */
#define RESMGR_FLAG_ATTACH_OTHERFUNC 0x00000004u
#define RESMGR_FLAG_NO_DEFAULT_FUNC  0x00000008u
#define RESMGR_FLAG_RCM              0x00000010u
#define RESMGR_FLAG_CROSS_ENDIAN     0x00000020u

/* resmgr_attach's flags (path resolution). */
#define _RESMGR_FLAG_BEFORE    0x0001u
#define _RESMGR_FLAG_AFTER     0x0002u
#define _RESMGR_FLAG_DIR       0x0004u
#define _RESMGR_FLAG_OPAQUE    0x0008u
#define _RESMGR_FLAG_FTYPEONLY 0x0010u
#define _RESMGR_FLAG_FTYPEALL  0x0020u
#define _RESMGR_FLAG_SELF      0x0080u
#define _RESMGR_FLAG_MASK      0x00ffu

/* resmgr_detach's flags */
#define _RESMGR_DETACH_ALL     0x0000u
#define _RESMGR_DETACH_PATHNAME 0x0001u
#define _RESMGR_DETACH_CLOSE   0x0002u

/* What a handler returns: EOK (reply with ctp->status, no data), an errno (MsgError),
 * _RESMGR_NPARTS(n) (reply with ctp->iov[0..n] and ctp->status), _RESMGR_NOREPLY (the
 * handler replied itself, or will later), _RESMGR_DEFAULT (run the default handler). */
#define _RESMGR_NOREPLY  0x7fffffff
#define _RESMGR_DEFAULT  0x7ffffffe
#define _RESMGR_ERRNO(_err) (_err)
#define _RESMGR_NPARTS(_num) (-(_num))
#define _RESMGR_PTR(_ctp, _addr, _len) (SETIOV((_ctp)->iov + 0, (_addr), (_len)), _RESMGR_NPARTS(1))
#define _RESMGR_STATUS(_ctp, _status) ((_ctp)->status = (_status))

/* The byte count a read or write reply carries (MsgReply's status). */
#define _IO_SET_READ_NBYTES(_ctp, _nbytes)  ((_ctp)->status = (_nbytes))
#define _IO_SET_WRITE_NBYTES(_ctp, _nbytes) ((_ctp)->status = (_nbytes))
/* The byte count a read or write message asks for (QNX 7.1 and later spell it this way). */
#define _IO_READ_GET_NBYTES(_msg)  ((_msg)->i.nbytes)
#define _IO_WRITE_GET_NBYTES(_msg) ((_msg)->i.nbytes)

/* Connect handlers: one per _IO_CONNECT subtype that reaches a manager. */
typedef struct _resmgr_connect_funcs {
	unsigned nfuncs;
	int (*open)(resmgr_context_t *ctp, io_open_t *msg, RESMGR_HANDLE_T *handle, void *extra);
	int (*unlink)(resmgr_context_t *ctp, io_unlink_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
	int (*rename)(resmgr_context_t *ctp, io_rename_t *msg, RESMGR_HANDLE_T *handle, void *extra);
	int (*mknod)(resmgr_context_t *ctp, io_mknod_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
	int (*readlink)(resmgr_context_t *ctp, io_readlink_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
	int (*link)(resmgr_context_t *ctp, io_link_t *msg, RESMGR_HANDLE_T *handle, void *extra);
	int (*unblock)(resmgr_context_t *ctp, io_pulse_t *msg, RESMGR_HANDLE_T *handle, void *reserved);
	int (*mount)(resmgr_context_t *ctp, io_mount_t *msg, RESMGR_HANDLE_T *handle, void *extra);
} resmgr_connect_funcs_t;
#define _RESMGR_CONNECT_NFUNCS ((sizeof(resmgr_connect_funcs_t) - sizeof(unsigned)) / sizeof(void *))

/* I/O handlers, in _IO_* order (read is _IO_READ - _IO_BASE = 1, …). */
typedef struct _resmgr_io_funcs {
	unsigned nfuncs;
	int (*read)(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb);
	int (*write)(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb);
	int (*close_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
	int (*stat)(resmgr_context_t *ctp, io_stat_t *msg, RESMGR_OCB_T *ocb);
	int (*notify)(resmgr_context_t *ctp, io_notify_t *msg, RESMGR_OCB_T *ocb);
	int (*devctl)(resmgr_context_t *ctp, io_devctl_t *msg, RESMGR_OCB_T *ocb);
	int (*unblock)(resmgr_context_t *ctp, io_pulse_t *msg, RESMGR_OCB_T *ocb);
	int (*pathconf)(resmgr_context_t *ctp, io_pathconf_t *msg, RESMGR_OCB_T *ocb);
	int (*lseek)(resmgr_context_t *ctp, io_lseek_t *msg, RESMGR_OCB_T *ocb);
	int (*chmod)(resmgr_context_t *ctp, io_chmod_t *msg, RESMGR_OCB_T *ocb);
	int (*chown)(resmgr_context_t *ctp, io_chown_t *msg, RESMGR_OCB_T *ocb);
	int (*utime)(resmgr_context_t *ctp, io_utime_t *msg, RESMGR_OCB_T *ocb);
	int (*openfd)(resmgr_context_t *ctp, io_openfd_t *msg, RESMGR_OCB_T *ocb);
	int (*fdinfo)(resmgr_context_t *ctp, io_fdinfo_t *msg, RESMGR_OCB_T *ocb);
	int (*lock)(resmgr_context_t *ctp, io_lock_t *msg, RESMGR_OCB_T *ocb);
	int (*space)(resmgr_context_t *ctp, io_space_t *msg, RESMGR_OCB_T *ocb);
	int (*shutdown)(resmgr_context_t *ctp, io_shutdown_t *msg, RESMGR_OCB_T *ocb);
	int (*mmap)(resmgr_context_t *ctp, io_mmap_t *msg, RESMGR_OCB_T *ocb);
	int (*msg)(resmgr_context_t *ctp, io_msg_t *msg, RESMGR_OCB_T *ocb);
	int (*reserved)(resmgr_context_t *ctp, void *msg, RESMGR_OCB_T *ocb);
	int (*dup)(resmgr_context_t *ctp, io_dup_t *msg, RESMGR_OCB_T *ocb);
	int (*close_dup)(resmgr_context_t *ctp, io_close_t *msg, RESMGR_OCB_T *ocb);
	int (*lock_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
	int (*unlock_ocb)(resmgr_context_t *ctp, void *reserved, RESMGR_OCB_T *ocb);
	int (*sync)(resmgr_context_t *ctp, io_sync_t *msg, RESMGR_OCB_T *ocb);
	int (*power)(resmgr_context_t *ctp, io_power_t *msg, RESMGR_OCB_T *ocb);
} resmgr_io_funcs_t;
#define _RESMGR_IO_NFUNCS ((sizeof(resmgr_io_funcs_t) - sizeof(unsigned)) / sizeof(void *))

extern int resmgr_attach(struct _dispatch *__dpp, resmgr_attr_t *__attr, const char *__path,
                         enum _file_type __file_type, unsigned __flags,
                         const resmgr_connect_funcs_t *__connect_funcs,
                         const resmgr_io_funcs_t *__io_funcs, RESMGR_HANDLE_T *__handle);
extern int resmgr_detach(struct _dispatch *__dpp, int __id, unsigned __flags);
extern resmgr_context_t *resmgr_context_alloc(struct _dispatch *__dpp);
extern void resmgr_context_free(resmgr_context_t *__ctp);
extern resmgr_context_t *resmgr_block(resmgr_context_t *__ctp);
extern int resmgr_handler(resmgr_context_t *__ctp);
extern int resmgr_open_bind(resmgr_context_t *__ctp, RESMGR_OCB_T *__ocb,
                            const resmgr_io_funcs_t *__iofuncs);
extern int resmgr_unbind(resmgr_context_t *__ctp);
extern void *resmgr_ocb(resmgr_context_t *__ctp);
extern ssize_t resmgr_msgread(resmgr_context_t *__ctp, void *__msg, size_t __nbytes, size_t __offset);
extern ssize_t resmgr_msgreadv(resmgr_context_t *__ctp, const iov_t *__iov, int __parts, size_t __offset);
extern ssize_t resmgr_msgget(resmgr_context_t *__ctp, void *__msg, size_t __nbytes, size_t __offset);
extern int resmgr_msgreply(resmgr_context_t *__ctp, void *__msg, size_t __nbytes);
extern int resmgr_msgreplyv(resmgr_context_t *__ctp, iov_t *__iov, int __parts);
extern ssize_t resmgr_msgwrite(resmgr_context_t *__ctp, const void *__msg, size_t __nbytes, size_t __offset);
extern ssize_t resmgr_msgwritev(resmgr_context_t *__ctp, const iov_t *__iov, int __parts, size_t __offset);

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(__builtin_offsetof(resmgr_context_t, info) == 8, "resmgr_context_t.info at 8");
_Static_assert(__builtin_offsetof(resmgr_context_t, msg) == 72, "resmgr_context_t.msg at 72");
_Static_assert(__builtin_offsetof(resmgr_context_t, status) == 100, "resmgr_context_t.status at 100");
_Static_assert(__builtin_offsetof(resmgr_context_t, iov) == 112, "resmgr_context_t.iov at 112");
_Static_assert(sizeof(resmgr_attr_t) == 40, "resmgr_attr_t is 40 bytes");
_Static_assert(sizeof(resmgr_io_funcs_t) == 8 + 26 * 8, "resmgr_io_funcs_t has 26 handlers");
_Static_assert(sizeof(resmgr_connect_funcs_t) == 8 + 8 * 8, "resmgr_connect_funcs_t has 8 handlers");
#endif

#endif
