/*
 * <sys/dispatch.h> for qnet: names (name_attach / name_detach / name_open / name_close),
 * the dispatch layer (dispatch_*, pulse_attach, message_attach), thread pools, and the
 * resource-manager layer (<sys/resmgr.h>, included here as QNX's header does).
 * Includes <sys/neutrino.h>, <sys/iomsg.h>, <sys/netmgr.h> and <pthread.h>, as code written
 * for QNX expects.
 *
 * Names are unique per node. name_open("node/name") reaches another node. name_open sends
 * QNX's _IO_CONNECT message (see <sys/iomsg.h>) and returns once the server answered it;
 * a server that receives it but never answers leaves name_open blocked, as on QNX
 * (QNET_NAME_OPEN_CONNECT=0 in the environment skips the handshake: a qnet extension).
 */
#ifndef _QNET_SYS_DISPATCH_H
#define _QNET_SYS_DISPATCH_H

#include <pthread.h>
#include <sys/neutrino.h>
#include <sys/iomsg.h>
#include <sys/netmgr.h>
#include <sys/resmgr.h>

/* QNX's headers define these; resource managers use them (not in C++: std::min/max). */
#ifndef __cplusplus
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#endif

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

/* A message handler's context: the same as a resource manager's. */
typedef resmgr_context_t message_context_t;

typedef union _dispatch_context {
	resmgr_context_t resmgr_context;
	message_context_t message_context;
} dispatch_context_t;

/* dispatch_create_channel's flags */
#define DISPATCH_FLAG_NOLOCK 0x00000001

extern dispatch_t *dispatch_create(void);
extern dispatch_t *dispatch_create_channel(int __chid, unsigned __flags);
extern int dispatch_destroy(dispatch_t *__dpp);
extern dispatch_context_t *dispatch_context_alloc(dispatch_t *__dpp);
extern void dispatch_context_free(dispatch_context_t *__ctp);
extern dispatch_context_t *dispatch_block(dispatch_context_t *__ctp);
extern int dispatch_handler(dispatch_context_t *__ctp);
extern void dispatch_unblock(dispatch_context_t *__ctp);
extern int dispatch_timeout(dispatch_t *__dpp, struct timespec *__reltime);

/* pulse_attach / message_attach */
typedef struct _message_attr {
	unsigned flags;
	unsigned nparts_max;
	unsigned msg_max_size;
	unsigned reserved[3];
} message_attr_t;

#define MSG_FLAG_ALLOC_PULSE 0x00000001
#define MSG_FLAG_TYPE_PULSE  0x00000002
#define MSG_FLAG_DEFAULT_FUNC 0x00000100
/* message_connect: a side-channel coid (qnet's is one whatever the flags). The value is
 * the one QNX binaries pass. */
#define MSG_FLAG_SIDE_CHANNEL 0x00000200
#define MSG_FLAG_CROSS_ENDIAN 0x00000400

extern int pulse_attach(dispatch_t *__dpp, int __flags, int __code,
                        int (*__func)(message_context_t *__ctp, int __code, unsigned __flags, void *__handle),
                        void *__handle);
extern int pulse_detach(dispatch_t *__dpp, int __code, int __flags);
extern int message_attach(dispatch_t *__dpp, message_attr_t *__attr, int __low, int __high,
                          int (*__func)(message_context_t *__ctp, int __code, unsigned __flags, void *__handle),
                          void *__handle);
extern int message_detach(dispatch_t *__dpp, int __low, int __high, int __flags);
extern int message_connect(dispatch_t *__dpp, int __flags);

/* Thread pools */
#ifndef THREAD_POOL_PARAM_T
#define THREAD_POOL_PARAM_T dispatch_context_t
#endif
#ifndef THREAD_POOL_HANDLE_T
#define THREAD_POOL_HANDLE_T dispatch_t
#endif

typedef struct _thread_pool_attr {
	THREAD_POOL_HANDLE_T *handle;
	THREAD_POOL_PARAM_T *(*block_func)(THREAD_POOL_PARAM_T *ctp);
	void (*unblock_func)(THREAD_POOL_PARAM_T *ctp);
	int (*handler_func)(THREAD_POOL_PARAM_T *ctp);
	THREAD_POOL_PARAM_T *(*context_alloc)(THREAD_POOL_HANDLE_T *handle);
	void (*context_free)(THREAD_POOL_PARAM_T *ctp);
	pthread_attr_t *attr;
	unsigned short lo_water;
	unsigned short increment;
	unsigned short hi_water;
	unsigned short maximum;
	unsigned reserved[8];
} thread_pool_attr_t;

typedef struct _thread_pool thread_pool_t;

#define POOL_FLAG_EXIT_SELF 0x00000001
#define POOL_FLAG_USE_SELF  0x00000002

extern thread_pool_t *thread_pool_create(thread_pool_attr_t *__attr, unsigned __flags);
extern int thread_pool_start(void *__pool);
extern int thread_pool_destroy(thread_pool_t *__pool);
extern int thread_pool_limits(thread_pool_t *__pool, int __lowater, int __hiwater,
                              int __maximum, int __increment, unsigned __flags);

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(sizeof(name_attach_t) == 24, "name_attach_t is 24 bytes");
_Static_assert(__builtin_offsetof(name_attach_t, chid) == 8, "name_attach_t.chid at 8");
_Static_assert(sizeof(thread_pool_attr_t) == 96, "thread_pool_attr_t is 96 bytes");
#endif

#endif
