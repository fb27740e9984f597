/*
 * <sys/neutrino.h> for qnet: QNX Neutrino's kernel calls for message passing, on Linux,
 * through the local qnetd. 64-bit QNX layouts (checked by the _Static_asserts at the end).
 *
 * Kernel calls return -1 and set errno on failure; the *_r variants return -errno instead,
 * as QNX's do. errno values are Linux's (<errno.h>); EOK is 0.
 *
 * Link with libqnetc (see capi/README.md): cc prog.c $(pkg-config --cflags --libs qnet)
 */
#ifndef _QNET_SYS_NEUTRINO_H
#define _QNET_SYS_NEUTRINO_H

/* QNX's <sys/neutrino.h> pulls these in; code relies on it. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sys/siginfo.h>
#include <sys/netmgr.h> /* ND_LOCAL_NODE: code often includes only <sys/neutrino.h> */

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EOK
#define EOK 0
#endif
/* QNX's "the server faulted on the client's buffers" (QNX's value; qnet never sets it). */
#ifndef ESRVRFAULT
#define ESRVRFAULT 312
#endif

/* A receive id (QNX 8 type; many programs keep it in an int: qnet keeps it below 2^31). */
typedef long rcvid_t;

/* iov_t is QNX's name for struct iovec (same layout). */
typedef struct iovec iov_t;
#define SETIOV(_iop, _addr, _len) ((_iop)->iov_base = (void *)(_addr), (_iop)->iov_len = (size_t)(_len))
#define GETIOVBASE(_iop) ((_iop)->iov_base)
#define GETIOVLEN(_iop)  ((_iop)->iov_len)

/* The value of a pulse: QNX's union sigval (with QNX 8's sival_long). */
union _qnet_pulse_value {
	int sival_int;
	void *sival_ptr;
	long sival_long;
};

/* What MsgReceive writes for a pulse (returns 0). 24 bytes on 64-bit QNX. */
struct _pulse {
	uint16_t type;
	uint16_t subtype;
	int8_t code;
	uint8_t zero[3];
	union _qnet_pulse_value value;
	int32_t scoid;
};

/* Who sent a message (QNX 8's _msg_info64). */
struct _msg_info {
	uint32_t nd;
	uint32_t srcnd;
	pid_t pid;
	int32_t tid;
	int32_t chid;
	int32_t scoid;
	int32_t coid;
	int16_t priority;
	int16_t flags;
	ssize_t msglen;
	ssize_t srcmsglen;
	ssize_t dstmsglen;
	uint32_t type_id;
	uint32_t reserved;
};

#define _NTO_CRED_NGROUPS 8
struct _cred_info {
	uid_t ruid;
	uid_t euid;
	uid_t suid;
	gid_t rgid;
	gid_t egid;
	gid_t sgid;
	uint32_t ngroups;
	gid_t grouplist[_NTO_CRED_NGROUPS];
};

struct _client_info {
	uint32_t nd;
	pid_t pid;
	pid_t sid;
	uint32_t flags;
	struct _cred_info cred;
};

/* ChannelCreate flags. Flags qnet does not implement are accepted and ignored. */
#define _NTO_CHF_FIXED_PRIORITY  0x0001
#define _NTO_CHF_UNBLOCK         0x0002
#define _NTO_CHF_THREAD_DEATH    0x0004
#define _NTO_CHF_DISCONNECT      0x0008
#define _NTO_CHF_NET_MSG         0x0010
#define _NTO_CHF_SENDER_LEN      0x0020
#define _NTO_CHF_COID_DISCONNECT 0x0040
#define _NTO_CHF_REPLY_LEN       0x0080
#define _NTO_CHF_STICKY          0x0100
#define _NTO_CHF_PULSE_POOL      0x0100
#define _NTO_CHF_ASYNC_NONBLOCK  0x0200
#define _NTO_CHF_ASYNC           0x0400
#define _NTO_CHF_GLOBAL          0x0800
#define _NTO_CHF_PRIVATE         0x1000
#define _NTO_CHF_MSG_PAUSING     0x2000
#define _NTO_CHF_SIG_RESTART     0x4000
#define _NTO_CHF_INHERIT_RUNMASK 0x4000
#define _NTO_CHF_UNBLOCK_TIMER   0x8000

/* ConnectAttach index and flags. */
#define _NTO_SIDE_CHANNEL   0x40000000
#define _NTO_GLOBAL_CHANNEL 0x40000000
#define _NTO_COF_CLOEXEC    0x0001
#define _NTO_COF_DEAD       0x0002
#define _NTO_COF_NOINHERIT  0x0004
#define _NTO_COF_LOCAL      0x0008
#define _NTO_COF_NOSHARE    0x0040
#define _NTO_COF_NETCON     0x0080
#define _NTO_COF_NONBLOCK   0x0100
#define _NTO_COF_ASYNC      0x0200
#define _NTO_COF_GLOBAL     0x0400
#define _NTO_COF_NOEVENT    0x0800
#define _NTO_COF_INSECURE   0x1000
#define _NTO_COF_REG_EVENTS 0x2000

/* System pulse codes (negative) and the range users may send. */
#define _PULSE_TYPE             0
#define _PULSE_SUBTYPE          0
#define _PULSE_CODE_UNBLOCK     (-32)
#define _PULSE_CODE_DISCONNECT  (-33)
#define _PULSE_CODE_THREADDEATH (-34)
#define _PULSE_CODE_COIDDEATH   (-35)
#define _PULSE_CODE_NET_ACK     (-36)
#define _PULSE_CODE_NET_UNBLOCK (-37)
#define _PULSE_CODE_NET_DETACH  (-38)
#define _PULSE_CODE_RESTART     (-39)
#define _PULSE_CODE_NORESTART   (-40)
#define _PULSE_CODE_UNBLOCK_RESTART (-41)
#define _PULSE_CODE_UNBLOCK_TIMER   (-42)
#define _PULSE_CODE_MINAVAIL    0
#define _PULSE_CODE_MAXAVAIL    127

/* _msg_info.flags */
#define _NTO_MI_ENDIAN_BIG   0x0001
#define _NTO_MI_ENDIAN_DIFF  0x0002
#define _NTO_MI_UNBLOCK_REQ  0x0100
#define _NTO_MI_NET_CRED_DIRTY 0x0200

/* Thread states, and the TimerTimeout state bits built from them. */
#define STATE_SEND    4
#define STATE_RECEIVE 5
#define STATE_REPLY   6
#define _NTO_TIMEOUT_SEND    (1 << STATE_SEND)
#define _NTO_TIMEOUT_RECEIVE (1 << STATE_RECEIVE)
#define _NTO_TIMEOUT_REPLY   (1 << STATE_REPLY)

/* MsgRegisterEvent's coid for "any server may deliver it" (qnet: not supported, EINVAL). */
#define _NTO_REGEVENT_ALLOW_ANY_SERVER (-1)

/* Channels and connections. */
extern int ChannelCreate(unsigned __flags);
extern int ChannelCreate_r(unsigned __flags);
extern int ChannelDestroy(int __chid);
extern int ChannelDestroy_r(int __chid);
extern int ConnectAttach(uint32_t __nd, pid_t __pid, int __chid, unsigned __index, int __flags);
extern int ConnectAttach_r(uint32_t __nd, pid_t __pid, int __chid, unsigned __index, int __flags);
extern int ConnectDetach(int __coid);
extern int ConnectDetach_r(int __coid);
extern int ConnectClientInfo(int __scoid, struct _client_info *__info, int __ngroups);
extern int ConnectFlags(pid_t __pid, int __coid, unsigned __mask, unsigned __bits);
extern int ConnectFlags_r(pid_t __pid, int __coid, unsigned __mask, unsigned __bits);
extern int ConnectClientInfo_r(int __scoid, struct _client_info *__info, int __ngroups);

/* Sending. */
extern long MsgSend(int __coid, const void *__smsg, size_t __sbytes, void *__rmsg, size_t __rbytes);
extern long MsgSend_r(int __coid, const void *__smsg, size_t __sbytes, void *__rmsg, size_t __rbytes);
extern long MsgSendnc(int __coid, const void *__smsg, size_t __sbytes, void *__rmsg, size_t __rbytes);
extern long MsgSendnc_r(int __coid, const void *__smsg, size_t __sbytes, void *__rmsg, size_t __rbytes);
extern long MsgSendv(int __coid, const iov_t *__siov, size_t __sparts, const iov_t *__riov, size_t __rparts);
extern long MsgSendv_r(int __coid, const iov_t *__siov, size_t __sparts, const iov_t *__riov, size_t __rparts);
extern long MsgSendvnc(int __coid, const iov_t *__siov, size_t __sparts, const iov_t *__riov, size_t __rparts);
extern long MsgSendvnc_r(int __coid, const iov_t *__siov, size_t __sparts, const iov_t *__riov, size_t __rparts);
extern long MsgSendsv(int __coid, const void *__smsg, size_t __sbytes, const iov_t *__riov, size_t __rparts);
extern long MsgSendsv_r(int __coid, const void *__smsg, size_t __sbytes, const iov_t *__riov, size_t __rparts);
extern long MsgSendvs(int __coid, const iov_t *__siov, size_t __sparts, void *__rmsg, size_t __rbytes);
extern long MsgSendvs_r(int __coid, const iov_t *__siov, size_t __sparts, void *__rmsg, size_t __rbytes);
extern long MsgSendsvnc(int __coid, const void *__smsg, size_t __sbytes, const iov_t *__riov, size_t __rparts);
extern long MsgSendsvnc_r(int __coid, const void *__smsg, size_t __sbytes, const iov_t *__riov, size_t __rparts);
extern long MsgSendvsnc(int __coid, const iov_t *__siov, size_t __sparts, void *__rmsg, size_t __rbytes);
extern long MsgSendvsnc_r(int __coid, const iov_t *__siov, size_t __sparts, void *__rmsg, size_t __rbytes);
extern int MsgSendPulse(int __coid, int __priority, int __code, int __value);
extern int MsgSendPulse_r(int __coid, int __priority, int __code, int __value);
extern int MsgSendPulsePtr(int __coid, int __priority, int __code, void *__value);
extern int MsgSendPulsePtr_r(int __coid, int __priority, int __code, void *__value);

/* Receiving and answering. */
extern rcvid_t MsgReceive(int __chid, void *__msg, size_t __bytes, struct _msg_info *__info);
extern rcvid_t MsgReceive_r(int __chid, void *__msg, size_t __bytes, struct _msg_info *__info);
extern rcvid_t MsgReceivev(int __chid, const iov_t *__iov, size_t __parts, struct _msg_info *__info);
extern rcvid_t MsgReceivev_r(int __chid, const iov_t *__iov, size_t __parts, struct _msg_info *__info);
extern int MsgReceivePulse(int __chid, void *__pulse, size_t __bytes, struct _msg_info *__info);
extern int MsgReceivePulse_r(int __chid, void *__pulse, size_t __bytes, struct _msg_info *__info);
extern int MsgReceivePulsev(int __chid, const iov_t *__iov, size_t __parts, struct _msg_info *__info);
extern int MsgReceivePulsev_r(int __chid, const iov_t *__iov, size_t __parts, struct _msg_info *__info);
extern int MsgReply(rcvid_t __rcvid, long __status, const void *__msg, size_t __bytes);
extern int MsgReply_r(rcvid_t __rcvid, long __status, const void *__msg, size_t __bytes);
extern int MsgReplyv(rcvid_t __rcvid, long __status, const iov_t *__iov, size_t __parts);
extern int MsgReplyv_r(rcvid_t __rcvid, long __status, const iov_t *__iov, size_t __parts);
extern int MsgError(rcvid_t __rcvid, int __err);
extern int MsgError_r(rcvid_t __rcvid, int __err);
extern ssize_t MsgRead(rcvid_t __rcvid, void *__msg, size_t __bytes, size_t __offset);
extern ssize_t MsgRead_r(rcvid_t __rcvid, void *__msg, size_t __bytes, size_t __offset);
extern ssize_t MsgReadv(rcvid_t __rcvid, const iov_t *__iov, size_t __parts, size_t __offset);
extern ssize_t MsgReadv_r(rcvid_t __rcvid, const iov_t *__iov, size_t __parts, size_t __offset);
extern ssize_t MsgWrite(rcvid_t __rcvid, const void *__msg, size_t __bytes, size_t __offset);
extern ssize_t MsgWrite_r(rcvid_t __rcvid, const void *__msg, size_t __bytes, size_t __offset);
extern ssize_t MsgWritev(rcvid_t __rcvid, const iov_t *__iov, size_t __parts, size_t __offset);
extern ssize_t MsgWritev_r(rcvid_t __rcvid, const iov_t *__iov, size_t __parts, size_t __offset);
extern int MsgInfo(rcvid_t __rcvid, struct _msg_info *__info);
extern int MsgInfo_r(rcvid_t __rcvid, struct _msg_info *__info);

/* Events. */
extern int MsgDeliverEvent(rcvid_t __rcvid, const struct sigevent *__event);
extern int MsgDeliverEvent_r(rcvid_t __rcvid, const struct sigevent *__event);
extern int MsgRegisterEvent(struct sigevent *__event, int __coid);
extern int MsgRegisterEvent_r(struct sigevent *__event, int __coid);
extern int MsgUnregisterEvent(const struct sigevent *__event);
extern int MsgUnregisterEvent_r(const struct sigevent *__event);
extern int MsgVerifyEvent(rcvid_t __rcvid, const struct sigevent *__event);
extern int MsgVerifyEvent_r(rcvid_t __rcvid, const struct sigevent *__event);

/* Kernel timeouts: the calling thread's next blocking call in one of `flags`' states. */
extern int TimerTimeout(clockid_t __id, int __flags, const struct sigevent *__notify,
                        const uint64_t *__ntime, uint64_t *__otime);
extern int TimerTimeout_r(clockid_t __id, int __flags, const struct sigevent *__notify,
                          const uint64_t *__ntime, uint64_t *__otime);

/* QNX libc functions glibc lacks (see <qnet/compat.h>). */
#include <qnet/compat.h>

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(sizeof(struct _pulse) == 24, "struct _pulse is 24 bytes");
_Static_assert(__builtin_offsetof(struct _pulse, code) == 4, "_pulse.code at 4");
_Static_assert(__builtin_offsetof(struct _pulse, value) == 8, "_pulse.value at 8");
_Static_assert(__builtin_offsetof(struct _pulse, scoid) == 16, "_pulse.scoid at 16");
_Static_assert(sizeof(struct _msg_info) == 64, "struct _msg_info is 64 bytes");
_Static_assert(__builtin_offsetof(struct _msg_info, priority) == 28, "_msg_info.priority at 28");
_Static_assert(__builtin_offsetof(struct _msg_info, msglen) == 32, "_msg_info.msglen at 32");
_Static_assert(__builtin_offsetof(struct _msg_info, dstmsglen) == 48, "_msg_info.dstmsglen at 48");
_Static_assert(sizeof(struct _client_info) == 76, "struct _client_info is 76 bytes");
_Static_assert(sizeof(iov_t) == 16, "iov_t is 16 bytes");
_Static_assert(sizeof(rcvid_t) == 8, "rcvid_t is 64-bit");
#endif

#endif
