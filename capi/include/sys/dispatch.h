/*
 * <sys/dispatch.h> for qnet: name_attach / name_detach / name_open / name_close.
 * Includes <sys/neutrino.h> and <sys/iomsg.h>, as code written for QNX expects.
 *
 * Names are unique per node. name_open("node/name") reaches another node. name_open sends
 * QNX's _IO_CONNECT message (see <sys/iomsg.h>) and returns once the server answered it;
 * a server that receives it but never answers leaves name_open blocked, as on QNX
 * (QNET_NAME_OPEN_CONNECT=0 in the environment skips the handshake: a qnet extension).
 */
#ifndef _QNET_SYS_DISPATCH_H
#define _QNET_SYS_DISPATCH_H

#include <sys/neutrino.h>
#include <sys/iomsg.h>
#include <sys/netmgr.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _dispatch dispatch_t;

typedef struct _name_attach {
	dispatch_t *dpp;
	int chid;
	int mntid;
	int zero[2];
} name_attach_t;

#define NAME_FLAG_ATTACH_GLOBAL 0x00000002
#define NAME_FLAG_DETACH_SAVEDPP 0x00000001

extern name_attach_t *name_attach(dispatch_t *__dpp, const char *__path, unsigned __flags);
extern int name_detach(name_attach_t *__attach, unsigned __flags);
extern int name_open(const char *__name, int __flags);
extern int name_close(int __coid);

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(sizeof(name_attach_t) == 24, "name_attach_t is 24 bytes");
_Static_assert(__builtin_offsetof(name_attach_t, chid) == 8, "name_attach_t.chid at 8");
#endif

#endif
