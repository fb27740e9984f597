/*
 * <sys/iomsg.h> for qnet: the I/O message numbers and the _IO_CONNECT message that
 * name_open() sends (QNX servers answer it with MsgReply(rcvid, EOK, NULL, 0) and other
 * _IO_BASE.._IO_MAX types with MsgError(rcvid, ENOSYS); user messages start at _IO_MAX + 1).
 */
#ifndef _QNET_SYS_IOMSG_H
#define _QNET_SYS_IOMSG_H

#include <stdint.h>
#include <sys/neutrino.h>

#ifdef __cplusplus
extern "C" {
#endif

#define _IO_BASE     0x100
#define _IO_CONNECT  0x100
#define _IO_READ     0x101
#define _IO_WRITE    0x103
#define _IO_CLOSE    0x106
#define _IO_MSG      0x113
#define _IO_MAX      0x1FF

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

/* _io_connect.file_type */
enum _file_type {
	_FTYPE_ANY, _FTYPE_FILE, _FTYPE_LINK, _FTYPE_SYMLINK, _FTYPE_PIPE, _FTYPE_SHMEM,
	_FTYPE_MQUEUE, _FTYPE_SOCKET, _FTYPE_SEM, _FTYPE_PHOTON, _FTYPE_DUMPER, _FTYPE_MOUNT,
	_FTYPE_NAME, _FTYPE_TYMEM
};

#define _IO_FLAG_RD 0x00000001
#define _IO_FLAG_WR 0x00000002

/* The connect message (header; the path follows). */
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

/* The header every I/O message starts with. */
struct _io_msg {
	uint16_t type;
	uint16_t combine_len;
	uint16_t mgrid;
	uint16_t subtype;
};

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(__builtin_offsetof(struct _io_connect, path) == 40, "_io_connect header is 40 bytes");
#endif

#endif
