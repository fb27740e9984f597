/*
 * <devctl.h> for qnet: devctl() and QNX's device-command encoding. A dcmd is
 * `size << 16 | class << 8 | cmd | direction`, the direction in the top two bits:
 * DEVDIR_TO (client to manager) is bit 31, DEVDIR_FROM bit 30 (Linux's _IOC has them the
 * other way round). devctl() sends one _IO_DEVCTL message (<sys/iomsg.h>) with the data,
 * returns EOK or an errno (a manager's ENOSYS becomes ENOTTY, as on QNX), and never sets
 * errno; devctl_r is the same function under QNX's other name.
 */
#ifndef _QNET_DEVCTL_H
#define _QNET_DEVCTL_H

#include <stddef.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define _POSIX_DEVDIR_NONE    0
#define _POSIX_DEVDIR_TO      0x80000000
#define _POSIX_DEVDIR_FROM    0x40000000
#define _POSIX_DEVDIR_TOFROM  (_POSIX_DEVDIR_TO | _POSIX_DEVDIR_FROM)
#define _POSIX_DEVDIR_CMD_MASK 0x0000FFFF

#define DEVDIR_NONE   _POSIX_DEVDIR_NONE
#define DEVDIR_TO     _POSIX_DEVDIR_TO
#define DEVDIR_FROM   _POSIX_DEVDIR_FROM
#define DEVDIR_TOFROM _POSIX_DEVDIR_TOFROM
#define DEVDIR_CMD_MASK _POSIX_DEVDIR_CMD_MASK

#define get_device_command(_cmd)   ((_cmd) & DEVDIR_CMD_MASK)
#define get_device_direction(_cmd) ((_cmd) & DEVDIR_TOFROM)
#define get_device_size(_cmd)      (((_cmd) >> 16) & 0x3FFF)

#define __DIOF(_class, _cmd, _data)  ((int)(sizeof(_data) << 16) + ((_class) << 8) + (_cmd) + (int)_POSIX_DEVDIR_FROM)
#define __DIOT(_class, _cmd, _data)  ((int)(sizeof(_data) << 16) + ((_class) << 8) + (_cmd) + (int)_POSIX_DEVDIR_TO)
#define __DIOTF(_class, _cmd, _data) ((int)(sizeof(_data) << 16) + ((_class) << 8) + (_cmd) + (int)_POSIX_DEVDIR_TOFROM)
#define __DION(_class, _cmd)         (((_class) << 8) + (_cmd) + _POSIX_DEVDIR_NONE)

/* Command classes */
#define _DCMD_ALL     0x01
#define _DCMD_FSYS    0x02
#define _DCMD_BLK     _DCMD_FSYS
#define _DCMD_CHR     0x03
#define _DCMD_NET     0x04
#define _DCMD_MISC    0x05
#define _DCMD_IP      0x06
#define _DCMD_MIXER   0x07
#define _DCMD_PROC    0x08
#define _DCMD_MEM     0x09
#define _DCMD_INPUT   0x0A

/* What iofunc_devctl_default answers. */
#define DCMD_ALL_GETFLAGS __DIOF(_DCMD_ALL, 1, int)
#define DCMD_ALL_SETFLAGS __DIOT(_DCMD_ALL, 2, int)
#define DCMD_ALL_GETMOUNTFLAGS __DIOF(_DCMD_ALL, 3, int)
#define DCMD_ALL_GETOWN   __DIOF(_DCMD_ALL, 4, pid_t)
#define DCMD_ALL_SETOWN   __DIOT(_DCMD_ALL, 5, pid_t)

extern int devctl(int __fd, int __dcmd, void *__data_ptr, size_t __nbytes, int *__info_ptr);
extern int devctl_r(int __fd, int __dcmd, void *__data_ptr, size_t __nbytes, int *__info_ptr);
extern int devctlv(int __fd, int __dcmd, int __sparts, int __rparts, const struct iovec *__sv,
                   const struct iovec *__rv, int *__info_ptr);

#ifdef __cplusplus
}
#endif

#endif
