/*
 * <process.h> for qnet: the QNX-only process header. getpid() and friends (<unistd.h>),
 * and spawnl/spawnlp/spawnv/spawnvp with P_WAIT / P_NOWAIT / P_OVERLAY.
 */
#ifndef _QNET_PROCESS_H
#define _QNET_PROCESS_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define P_WAIT    0
#define P_NOWAIT  1
#define P_OVERLAY 2
#define P_NOWAITO 3

/* Returns the child's pid (P_NOWAIT), its exit status (P_WAIT), or -1 with errno. */
extern pid_t spawnv(int __mode, const char *__path, char *const __argv[]);
extern pid_t spawnvp(int __mode, const char *__file, char *const __argv[]);

#define _QNET_SPAWN_MAXARGS 256

static inline pid_t _qnet_spawnl(int __p, int __mode, const char *__path, const char *__arg0, va_list __ap)
{
	char *__argv[_QNET_SPAWN_MAXARGS];
	int __n = 0;
	const char *__a = __arg0;
	while (__a != NULL && __n < _QNET_SPAWN_MAXARGS - 1) {
		__argv[__n++] = (char *)__a;
		__a = va_arg(__ap, const char *);
	}
	__argv[__n] = NULL;
	return __p ? spawnvp(__mode, __path, __argv) : spawnv(__mode, __path, __argv);
}

static inline pid_t spawnl(int __mode, const char *__path, const char *__arg0, ...)
{
	va_list __ap;
	pid_t __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(0, __mode, __path, __arg0, __ap);
	va_end(__ap);
	return __r;
}

static inline pid_t spawnlp(int __mode, const char *__file, const char *__arg0, ...)
{
	va_list __ap;
	pid_t __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(1, __mode, __file, __arg0, __ap);
	va_end(__ap);
	return __r;
}

#ifdef __cplusplus
}
#endif

#endif
