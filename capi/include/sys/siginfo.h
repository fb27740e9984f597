/*
 * <sys/siginfo.h> for qnet: QNX's pulse fields and macros for `struct sigevent`, laid over
 * glibc's own `struct sigevent` (from <signal.h>) without changing it.
 *
 * glibc keeps `sigev_value` at offset 0, `sigev_signo` at 8, `sigev_notify` at 12 and a
 * 48-byte union after them. QNX's pulse fields live where glibc has room, the way glibc
 * itself names `sigev_notify_function`:
 *   sigev_coid     = sigev_signo            (QNX shares signo and coid too)
 *   sigev_priority = _sigev_un._pad[0]
 *   sigev_code     = _sigev_un._pad[1]
 *   sigev_handle   = _sigev_un._pad[2]      (set by MsgRegisterEvent; with _pad[3])
 * `SIGEV_PULSE` is 4, which is Linux's `SIGEV_THREAD_ID`: such an event is never handed to
 * glibc (qnet's timer_create intercepts it; other kinds pass through).
 */
#ifndef _QNET_SYS_SIGINFO_H
#define _QNET_SYS_SIGINFO_H

#include <signal.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SIGEV_PULSE
#define SIGEV_PULSE 4
#endif
#ifndef SIGEV_UNBLOCK
#define SIGEV_UNBLOCK 5
#endif
#ifndef SIGEV_INTR
#define SIGEV_INTR 6
#endif

#define sigev_coid     sigev_signo
#define sigev_priority _sigev_un._pad[0]
#define sigev_code     _sigev_un._pad[1]
#define sigev_handle   _sigev_un._pad[2]

#define SIGEV_TYPE_MASK            0x000000ff
#define SIGEV_FLAG_OVERDRIVE       0x00000200
#define SIGEV_FLAG_UPDATEABLE      0x00000400
#define SIGEV_FLAG_SIVAL_INT       0x00000800
#define SIGEV_FLAG_NOQUEUE         0x00001000
#define SIGEV_FLAG_HANDLE          0x00002000
#define SIGEV_FLAG_CODE_UPDATEABLE 0x00004000
#define SIGEV_INVALID_HANDLE       0xffffffffU

/* Don't modify the receiving thread's priority when the pulse arrives. */
#define SIGEV_PULSE_PRIO_INHERIT (-1)

#define SIGEV_GET_TYPE(__e) ((int)((unsigned)((__e)->sigev_notify) & SIGEV_TYPE_MASK))
#define SIGEV_SET_TYPE(__e, __t) \
	((__e)->sigev_notify = (int)(((unsigned)((__e)->sigev_notify) & ~SIGEV_TYPE_MASK) | (unsigned)(__t)))
#define SIGEV_MAKE_UPDATEABLE(__e)  ((__e)->sigev_notify |= SIGEV_FLAG_UPDATEABLE)
#define SIGEV_CLEAR_UPDATEABLE(__e) ((__e)->sigev_notify &= ~SIGEV_FLAG_UPDATEABLE)
#define SIGEV_MAKE_OVERDRIVE(__e)   ((__e)->sigev_notify |= SIGEV_FLAG_OVERDRIVE)
#define SIGEV_CLEAR_OVERDRIVE(__e)  ((__e)->sigev_notify &= ~SIGEV_FLAG_OVERDRIVE)
#define SIGEV_MAKE_NOQUEUE(__e)     ((__e)->sigev_notify |= SIGEV_FLAG_NOQUEUE)
#define SIGEV_CLEAR_NOQUEUE(__e)    ((__e)->sigev_notify &= ~SIGEV_FLAG_NOQUEUE)

#define SIGEV_NONE_INIT(__e) ((__e)->sigev_notify = SIGEV_NONE)
#define SIGEV_SIGNAL_INIT(__e, __s) \
	((__e)->sigev_notify = SIGEV_SIGNAL, (__e)->sigev_signo = (__s))
#define SIGEV_SIGNAL_VALUE_INIT(__e, __s, __v) \
	((__e)->sigev_notify = SIGEV_SIGNAL, (__e)->sigev_signo = (__s), \
	 (__e)->sigev_value.sival_ptr = (void *)(uintptr_t)(__v))
#define SIGEV_UNBLOCK_INIT(__e) ((__e)->sigev_notify = SIGEV_UNBLOCK)
#define SIGEV_INTR_INIT(__e)    ((__e)->sigev_notify = SIGEV_INTR)
#define SIGEV_THREAD_INIT(__e, __f, __v, __a) \
	((__e)->sigev_notify = SIGEV_THREAD, (__e)->sigev_notify_function = (__f), \
	 (__e)->sigev_value.sival_ptr = (void *)(uintptr_t)(__v), \
	 (__e)->sigev_notify_attributes = (__a))

#define SIGEV_PULSE_INIT(__e, __f, __p, __c, __v) \
	((__e)->sigev_notify = SIGEV_PULSE, (__e)->sigev_coid = (__f), \
	 (__e)->sigev_priority = (__p), \
	 (__e)->sigev_value.sival_ptr = (void *)(uintptr_t)(__v), \
	 (__e)->sigev_code = (__c))
#define SIGEV_PULSE_INT_INIT(__e, __f, __p, __c, __v) \
	((__e)->sigev_notify = SIGEV_PULSE | SIGEV_FLAG_SIVAL_INT, (__e)->sigev_coid = (__f), \
	 (__e)->sigev_priority = (__p), (__e)->sigev_value.sival_int = (int)(__v), \
	 (__e)->sigev_code = (__c))
#define SIGEV_PULSE_PTR_INIT(__e, __f, __p, __c, __v) \
	((__e)->sigev_notify = SIGEV_PULSE, (__e)->sigev_coid = (__f), \
	 (__e)->sigev_priority = (__p), \
	 (__e)->sigev_value.sival_ptr = (void *)(uintptr_t)(__v), \
	 (__e)->sigev_code = (__c))

#ifdef __cplusplus
}
#endif

#if !defined(__cplusplus)
_Static_assert(sizeof(struct sigevent) == 64, "glibc struct sigevent is 64 bytes");
_Static_assert(__builtin_offsetof(struct sigevent, sigev_value) == 0, "sigev_value at 0");
_Static_assert(__builtin_offsetof(struct sigevent, sigev_signo) == 8, "sigev_coid at 8");
_Static_assert(__builtin_offsetof(struct sigevent, sigev_notify) == 12, "sigev_notify at 12");
_Static_assert(__builtin_offsetof(struct sigevent, _sigev_un) == 16, "pulse fields from 16");
#endif

#endif
