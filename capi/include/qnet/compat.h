/*
 * QNX libc functions that glibc lacks, provided by libqnetc: strlcpy/strlcat (only where
 * glibc has none, i.e. before 2.38), itoa/ltoa/utoa, delay, getprio/setprio; and
 * pthread_create accepts a NULL thread id, as QNX's does. A program that defines its own
 * (non-static, same signature) keeps its own: the executable's definition wins when linking
 * against the shared library.
 */
#ifndef _QNET_COMPAT_H
#define _QNET_COMPAT_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GLIBC__) && !(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38))
extern size_t strlcpy(char *__dst, const char *__src, size_t __size);
extern size_t strlcat(char *__dst, const char *__src, size_t __size);
#endif
extern char *itoa(int __value, char *__buf, int __radix);
/* QNX <unistd.h>: sleep milliseconds. */
extern unsigned delay(unsigned __msec);
/* QNX <sched.h>: the calling thread's priority as qnet carries it with messages. */
extern int getprio(pid_t __pid);
extern int setprio(pid_t __pid, int __prio);
extern char *ltoa(long __value, char *__buf, int __radix);
extern char *utoa(unsigned __value, char *__buf, int __radix);

#ifdef __cplusplus
}
#endif

#endif
