/*
 * <sys/iofunc.h> for qnet: the POSIX layer of QNX's resource-manager library: the
 * attribute, OCB and mount structures (QNX's field order; programs embed them as the first
 * member of their own), the default handlers, and the helpers they are built from.
 *
 * Define IOFUNC_ATTR_T / IOFUNC_OCB_T / IOFUNC_MOUNT_T before including this header to use
 * your own structures (each starting with the iofunc one), as QNX documents.
 */
#ifndef _QNET_SYS_IOFUNC_H
#define _QNET_SYS_IOFUNC_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifndef IOFUNC_ATTR_T
#define IOFUNC_ATTR_T struct _iofunc_attr
#endif
#ifndef IOFUNC_OCB_T
#define IOFUNC_OCB_T struct _iofunc_ocb
#endif
#ifndef IOFUNC_MOUNT_T
#define IOFUNC_MOUNT_T struct _iofunc_mount
#endif
#ifndef RESMGR_HANDLE_T
#define RESMGR_HANDLE_T IOFUNC_ATTR_T
#endif
#ifndef RESMGR_OCB_T
#define RESMGR_OCB_T IOFUNC_OCB_T
#endif

#include <sys/dispatch.h>

#ifdef __cplusplus
extern "C" {
#endif

/* QNX's file type for a named special file (a device with no other type). On Linux it has
 * no S_IS* test: fstat through libqnetc shows it as is; the FUSE mount shows a regular file. */
#ifndef S_IFNAM
#define S_IFNAM 0050000
#endif
#ifndef S_ISNAM
#define S_ISNAM(m) (((m) & S_IFMT) == S_IFNAM)
#endif

/* Names the program's types at file scope before they appear in parameter lists. */
struct _qnet_iofunc_tags {
	IOFUNC_ATTR_T *__attr;
	IOFUNC_OCB_T *__ocb;
	IOFUNC_MOUNT_T *__mount;
};

typedef struct _iofunc_funcs {
	unsigned nfuncs;
	IOFUNC_OCB_T *(*ocb_calloc)(resmgr_context_t *ctp, IOFUNC_ATTR_T *attr);
	void (*ocb_free)(IOFUNC_OCB_T *ocb);
} iofunc_funcs_t;
#define _IOFUNC_NFUNCS ((sizeof(iofunc_funcs_t) - sizeof(unsigned)) / sizeof(void *))

typedef struct _iofunc_mount {
	uint32_t flags;
	uint32_t conf;
	dev_t dev;
	int32_t blocksize;
	iofunc_funcs_t *funcs;
	void *size;
} iofunc_mount_t;

typedef struct _iofunc_attr {
	IOFUNC_MOUNT_T *mount;
	uint32_t flags;
	int32_t lock_tid;
	uint16_t lock_count;
	uint16_t count;
	uint16_t rcount;
	uint16_t wcount;
	uint16_t rlocks;
	uint16_t wlocks;
	struct _iofunc_mmap_list *mmap_list;
	struct _iofunc_lock_list *lock_list;
	void *list;
	uint32_t list_size;
	off_t nbytes;
	ino_t inode;
	uid_t uid;
	gid_t gid;
	time_t mtime;
	time_t atime;
	time_t ctime;
	mode_t mode;
	nlink_t nlink;
	dev_t rdev;
	unsigned mtime_ns;
	unsigned atime_ns;
	unsigned ctime_ns;
} iofunc_attr_t;

typedef struct _iofunc_ocb {
	IOFUNC_ATTR_T *attr;
	int32_t ioflag;
	off_t offset;
	uint16_t sflag;
	uint16_t flags;
	void *reserved;
} iofunc_ocb_t;

/* iofunc_attr_t.flags */
#define IOFUNC_ATTR_ATIME   0x00000002
#define IOFUNC_ATTR_CTIME   0x00000004
#define IOFUNC_ATTR_MTIME   0x00000008
#define IOFUNC_ATTR_DIRTY_MASK 0x0000000f
#define IOFUNC_ATTR_DIRTY_NLINK 0x00000010
#define IOFUNC_ATTR_DIRTY_MODE  0x00000020
#define IOFUNC_ATTR_DIRTY_OWNER 0x00000040
#define IOFUNC_ATTR_DIRTY_TIME  0x00000080
#define IOFUNC_ATTR_DIRTY_SIZE  0x00000100
#define IOFUNC_ATTR_DIRTY_RDEV  0x00000200

/* iofunc_ocb_t.flags, and what iofunc_ocb_detach returns */
#define IOFUNC_OCB_PRIVILEGED   0x0001
#define IOFUNC_OCB_MMAP         0x0002
#define IOFUNC_OCB_FLAGS_PRIVATE 0xf000
#define IOFUNC_OCB_LAST_INUSE   0x0001
#define IOFUNC_OCB_LAST_READER  0x0002
#define IOFUNC_OCB_LAST_WRITER  0x0004
#define IOFUNC_OCB_LAST_RDLOCK  0x0008
#define IOFUNC_OCB_LAST_WRLOCK  0x0010

/* iofunc_mount_t.flags and .conf */
#define IOFUNC_MOUNT_32BIT   0x00000100
#define IOFUNC_MOUNT_FLAGS_PRIVATE 0xff000000
#define IOFUNC_PC_CHOWN_RESTRICTED 0x00000001
#define IOFUNC_PC_NO_TRUNC   0x00000002
#define IOFUNC_PC_SYNC_IO    0x00000004
#define IOFUNC_PC_LINK_DIR   0x00000008

/* iofunc_check_access's check modes (beside S_IREAD, S_IWRITE, S_IEXEC) */
#ifndef S_ISUID
#define S_ISUID 04000
#endif

/* Helpers */
extern int iofunc_client_info(resmgr_context_t *__ctp, int __ioflag, struct _client_info *__info);
extern int iofunc_check_access(resmgr_context_t *__ctp, const iofunc_attr_t *__attr, mode_t __checkmode,
                               const struct _client_info *__info);
extern int iofunc_open(resmgr_context_t *__ctp, io_open_t *__msg, iofunc_attr_t *__attr,
                       iofunc_attr_t *__dattr, struct _client_info *__info);
extern int iofunc_ocb_attach(resmgr_context_t *__ctp, io_open_t *__msg, iofunc_ocb_t *__ocb,
                             iofunc_attr_t *__attr, const resmgr_io_funcs_t *__io_funcs);
extern int iofunc_ocb_detach(resmgr_context_t *__ctp, iofunc_ocb_t *__ocb);
extern int iofunc_close_ocb(resmgr_context_t *__ctp, iofunc_ocb_t *__ocb, iofunc_attr_t *__attr);
extern int iofunc_read_verify(resmgr_context_t *__ctp, io_read_t *__msg, iofunc_ocb_t *__ocb, int *__nonblock);
extern int iofunc_write_verify(resmgr_context_t *__ctp, io_write_t *__msg, iofunc_ocb_t *__ocb, int *__nonblock);
extern int iofunc_stat(resmgr_context_t *__ctp, iofunc_attr_t *__attr, struct stat *__stat);
extern int iofunc_time_update(iofunc_attr_t *__attr);
extern int iofunc_devctl(resmgr_context_t *__ctp, io_devctl_t *__msg, iofunc_ocb_t *__ocb, iofunc_attr_t *__attr);
extern int iofunc_lseek(resmgr_context_t *__ctp, io_lseek_t *__msg, iofunc_ocb_t *__ocb, iofunc_attr_t *__attr);
extern int iofunc_attr_lock(iofunc_attr_t *__attr);
extern int iofunc_attr_trylock(iofunc_attr_t *__attr);
extern int iofunc_attr_unlock(iofunc_attr_t *__attr);
extern void iofunc_attr_init(iofunc_attr_t *__attr, mode_t __mode, iofunc_attr_t *__dattr,
                             struct _client_info *__info);
extern void iofunc_func_init(unsigned __nconnect, resmgr_connect_funcs_t *__connect,
                             unsigned __nio, resmgr_io_funcs_t *__io);

/* The default handlers (iofunc_func_init puts these in the tables). */
extern int iofunc_open_default(resmgr_context_t *__ctp, io_open_t *__msg, iofunc_attr_t *__attr, void *__extra);
extern int iofunc_read_default(resmgr_context_t *__ctp, io_read_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_write_default(resmgr_context_t *__ctp, io_write_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_close_ocb_default(resmgr_context_t *__ctp, void *__reserved, iofunc_ocb_t *__ocb);
extern int iofunc_close_dup_default(resmgr_context_t *__ctp, io_close_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_stat_default(resmgr_context_t *__ctp, io_stat_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_devctl_default(resmgr_context_t *__ctp, io_devctl_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_unblock_default(resmgr_context_t *__ctp, io_pulse_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_lseek_default(resmgr_context_t *__ctp, io_lseek_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_lock_ocb_default(resmgr_context_t *__ctp, void *__reserved, iofunc_ocb_t *__ocb);
extern int iofunc_unlock_ocb_default(resmgr_context_t *__ctp, void *__reserved, iofunc_ocb_t *__ocb);
extern int iofunc_sync_default(resmgr_context_t *__ctp, io_sync_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_chmod_default(resmgr_context_t *__ctp, io_chmod_t *__msg, iofunc_ocb_t *__ocb);
extern int iofunc_chown_default(resmgr_context_t *__ctp, io_chown_t *__msg, iofunc_ocb_t *__ocb);

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(__builtin_offsetof(iofunc_attr_t, nbytes) == 64, "iofunc_attr_t.nbytes at 64");
_Static_assert(__builtin_offsetof(iofunc_attr_t, mode) == 112, "iofunc_attr_t.mode at 112");
_Static_assert(sizeof(iofunc_attr_t) == 152, "iofunc_attr_t is 152 bytes");

_Static_assert(__builtin_offsetof(iofunc_ocb_t, offset) == 16, "iofunc_ocb_t.offset at 16");
_Static_assert(sizeof(iofunc_ocb_t) == 40, "iofunc_ocb_t is 40 bytes");
_Static_assert(sizeof(iofunc_mount_t) == 40, "iofunc_mount_t is 40 bytes");
#endif

#endif
