/*
 * QNX libc functions that glibc lacks, provided by libqnetc: strlcpy/strlcat (only where
 * glibc has none, i.e. before 2.38) and itoa/ltoa/utoa. A program that defines its own
 * (non-static, same signature) keeps its own: the executable's definition wins when linking
 * against the shared library.
 */
#ifndef _QNET_COMPAT_H
#define _QNET_COMPAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GLIBC__) && !(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38))
extern size_t strlcpy(char *__dst, const char *__src, size_t __size);
extern size_t strlcat(char *__dst, const char *__src, size_t __size);
#endif
extern char *itoa(int __value, char *__buf, int __radix);
extern char *ltoa(long __value, char *__buf, int __radix);
extern char *utoa(unsigned __value, char *__buf, int __radix);

#ifdef __cplusplus
}
#endif

#endif
