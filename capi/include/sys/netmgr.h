/*
 * <sys/netmgr.h> for qnet: node names and node descriptors.
 *
 * qnet extension: QNET_NODE=<name> in a process's environment makes ND_LOCAL_NODE (0) in
 * ConnectAttach and bare names in name_open mean that node, so an unmodified program that
 * hard-codes node 0 runs against another node (in the spirit of QNX's `on -n`).
 */
#ifndef _QNET_SYS_NETMGR_H
#define _QNET_SYS_NETMGR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ND_LOCAL_NODE 0
#define ND2S_DIR_SHOW  0x0001
#define ND2S_DIR_HIDE  0x0002
#define ND2S_QOS_SHOW  0x0004
#define ND2S_QOS_HIDE  0x0008
#define ND2S_NAME_SHOW 0x0010
#define ND2S_NAME_HIDE 0x0020
#define ND2S_DOMAIN_SHOW 0x0040
#define ND2S_DOMAIN_HIDE 0x0080
#define ND2S_LOCAL_STR 0x1000
#define ND2S_SEP_SHOW  0x2000

#define ND_NODE_CMP(__a, __b) ((__a) == (__b))

extern int netmgr_strtond(const char *__nodename, char **__endstr);
extern int netmgr_ndtostr(unsigned __flags, int __nd, char *__buf, size_t __maxbuf);

#ifdef __cplusplus
}
#endif

#endif
