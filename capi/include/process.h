/*
 * <process.h> for qnet: the QNX-only process header. getpid() and friends (<unistd.h>),
 * and QNX's spawn family: spawnl, spawnle, spawnlp, spawnlpe, spawnv, spawnve, spawnvp,
 * spawnvpe, with the modes P_WAIT, P_NOWAIT, P_OVERLAY and P_NOWAITO (QNX's values).
 *
 * Built on glibc's posix_spawn. As QNX's:
 * - P_WAIT: run the child and wait for it; returns its status as waitpid() reports it
 *   (test it with WIFEXITED / WEXITSTATUS from <sys/wait.h>), as QNX's spawn*() does;
 * - P_NOWAIT: returns the child's pid; collect it with waitpid();
 * - P_NOWAITO: returns the child's pid; it is not this process's child (no zombie is left,
 *   and wait()/waitpid() cannot get its exit status);
 * - P_OVERLAY: the child replaces this process (the exec*() family); returns only on error.
 * A NULL envp (the *e forms) means this process's environment; the *p forms search PATH for
 * a file name without a slash. On error: -1 with errno (ENOENT, EACCES, ENOEXEC, ...; EINVAL
 * for another mode or a NULL path or argv).
 */
#ifndef _QNET_PROCESS_H
#define _QNET_PROCESS_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef P_WAIT
#define P_WAIT    0
#define P_NOWAIT  1
#define P_OVERLAY 2
#define P_NOWAITO 3
#endif

extern int spawnv(int __mode, const char *__path, char *const __argv[]);
extern int spawnve(int __mode, const char *__path, char *const __argv[], char *const __envp[]);
extern int spawnvp(int __mode, const char *__file, char *const __argv[]);
extern int spawnvpe(int __mode, const char *__file, char *const __argv[], char *const __envp[]);

/* The list forms gather their arguments (up to the NULL, then envp for the *e forms) into an
 * argv and call the vector forms. */
static inline int _qnet_spawnl(int __mode, const char *__path, int __search, int __with_env,
			       const char *__arg0, va_list __ap)
{
	va_list __count;
	size_t __n = 0;
	va_copy(__count, __ap);
	if (__arg0 != NULL) {
		__n = 1;
		while (va_arg(__count, const char *) != NULL)
			__n++;
	}
	va_end(__count);
	char **__argv = (char **)malloc((__n + 1) * sizeof(char *));
	if (__argv == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t __i = 0;
	if (__arg0 != NULL) {
		__argv[__i++] = (char *)__arg0;
		while (__i < __n)
			__argv[__i++] = va_arg(__ap, char *);
		(void)va_arg(__ap, char *); /* the NULL */
	}
	__argv[__n] = NULL;
	char *const *__envp = __with_env ? va_arg(__ap, char *const *) : NULL;
	int __r = __search ? spawnvpe(__mode, __path, __argv, __envp) : spawnve(__mode, __path, __argv, __envp);
	int __saved = errno;
	free(__argv);
	errno = __saved;
	return __r;
}

static inline int spawnl(int __mode, const char *__path, const char *__arg0, ...)
{
	va_list __ap;
	int __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(__mode, __path, 0, 0, __arg0, __ap);
	va_end(__ap);
	return __r;
}

static inline int spawnle(int __mode, const char *__path, const char *__arg0, ...)
{
	va_list __ap;
	int __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(__mode, __path, 0, 1, __arg0, __ap);
	va_end(__ap);
	return __r;
}

static inline int spawnlp(int __mode, const char *__file, const char *__arg0, ...)
{
	va_list __ap;
	int __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(__mode, __file, 1, 0, __arg0, __ap);
	va_end(__ap);
	return __r;
}

static inline int spawnlpe(int __mode, const char *__file, const char *__arg0, ...)
{
	va_list __ap;
	int __r;
	va_start(__ap, __arg0);
	__r = _qnet_spawnl(__mode, __file, 1, 1, __arg0, __ap);
	va_end(__ap);
	return __r;
}

#ifdef __cplusplus
}
#endif

#endif
