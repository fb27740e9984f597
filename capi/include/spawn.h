/*
 * <spawn.h> for qnet: glibc's own <spawn.h> (posix_spawn), plus what QNX declares there or
 * in <process.h>: the spawn*() family and its P_* modes (QNX programs include either).
 * QNX's spawn() with struct inheritance is not provided.
 */
#ifndef _QNET_SPAWN_H
#define _QNET_SPAWN_H

#include_next <spawn.h>
#include <process.h>

#endif
