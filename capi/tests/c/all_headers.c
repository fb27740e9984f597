/*
 * Every header of libqnetc, included in an order real code uses, compiled with
 * -Wall -Wextra -Werror as C and as C++; a program's own "#define EOK 0" is not a
 * conflicting redefinition.
 */
#define EOK 0
#include <devctl.h>
#include <process.h>
#include <spawn.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>
#include <sys/iomsg.h>
#include <sys/netmgr.h>
#include <sys/resmgr.h>
#include <sys/neutrino.h>
#include <sys/siginfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[])
{
	(void)argv;
	if (argc > 5) {
		/* Referenced, not run: every declaration links. */
		struct _pulse p;
		struct _msg_info info;
		struct _client_info ci;
		struct sigevent ev;
		iov_t iov;
		char buf[8];
		SETIOV(&iov, buf, sizeof(buf));
		SIGEV_PULSE_INIT(&ev, 1, SIGEV_PULSE_PRIO_INHERIT, _PULSE_CODE_MINAVAIL, 0);
		SIGEV_MAKE_UPDATEABLE(&ev);
		int chid = ChannelCreate(_NTO_CHF_DISCONNECT | _NTO_CHF_UNBLOCK);
		int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
		rcvid_t rcvid = MsgReceive(chid, &p, sizeof(p), &info);
		MsgReceivev(chid, &iov, 1, &info);
		MsgReceivePulse(chid, &p, sizeof(p), NULL);
		MsgReceivePulsev(chid, &iov, 1, NULL);
		MsgSend(coid, buf, sizeof(buf), buf, sizeof(buf));
		MsgSendv(coid, &iov, 1, &iov, 1);
		MsgSendsv(coid, buf, 1, &iov, 1);
		MsgSendvs(coid, &iov, 1, buf, 1);
		MsgSendnc(coid, buf, 1, buf, 1);
		MsgReply(rcvid, EOK, NULL, 0);
		MsgReplyv(rcvid, EOK, &iov, 1);
		MsgError(rcvid, ENOSYS);
		MsgRead(rcvid, buf, 1, 0);
		MsgReadv(rcvid, &iov, 1, 0);
		MsgWrite(rcvid, buf, 1, 0);
		MsgWritev(rcvid, &iov, 1, 0);
		MsgInfo(rcvid, &info);
		MsgSendPulse(coid, -1, 1, 2);
		MsgSendPulsePtr(coid, -1, 1, buf);
		MsgRegisterEvent(&ev, coid);
		MsgVerifyEvent(rcvid, &ev);
		MsgDeliverEvent(rcvid, &ev);
		MsgUnregisterEvent(&ev);
		ConnectClientInfo(info.scoid, &ci, 0);
		uint64_t ns = 1;
		TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_SEND | _NTO_TIMEOUT_REPLY, NULL, &ns, NULL);
		name_attach_t *a = name_attach(NULL, "x", 0);
		name_detach(a, 0);
		name_close(name_open("x", 0));
		netmgr_ndtostr(ND2S_LOCAL_STR, netmgr_strtond("n", NULL), buf, sizeof(buf));
		timer_t t;
		timer_create(CLOCK_MONOTONIC, &ev, &t);
		timer_delete(t);
		strlcpy(buf, "x", sizeof(buf));
		itoa(1, buf, 10);
		spawnl(P_NOWAIT, "/bin/true", "true", (char *)NULL);
		ConnectDetach(coid);
		ChannelDestroy(chid);
		ChannelCreate_r(0);
		MsgSend_r(coid, buf, 1, buf, 1);
		/* The resource-manager library. */
		static resmgr_connect_funcs_t cf;
		static resmgr_io_funcs_t iof;
		static iofunc_attr_t attr;
		resmgr_attr_t ra;
		memset(&ra, 0, sizeof(ra));
		dispatch_t *dpp = dispatch_create_channel(-1, DISPATCH_FLAG_NOLOCK);
		iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
		iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);
		int id = resmgr_attach(dpp, &ra, "/dev/x", _FTYPE_ANY, _RESMGR_FLAG_DIR, &cf, &iof, &attr);
		dispatch_context_t *ctp = dispatch_context_alloc(dpp);
		ctp = dispatch_block(ctp);
		dispatch_handler(ctp);
		resmgr_msgread(&ctp->resmgr_context, buf, 1, 0);
		resmgr_msgreply(&ctp->resmgr_context, buf, 1);
		_IO_SET_READ_NBYTES(&ctp->resmgr_context, 1);
		int parts = _RESMGR_PTR(&ctp->resmgr_context, buf, 1);
		resmgr_detach(dpp, id, 0);
		thread_pool_attr_t pa;
		memset(&pa, 0, sizeof(pa));
		thread_pool_t *tp = thread_pool_create(&pa, POOL_FLAG_EXIT_SELF);
		thread_pool_start(tp);
		pulse_attach(dpp, MSG_FLAG_ALLOC_PULSE, 0, NULL, NULL);
		int side = message_connect(dpp, MSG_FLAG_SIDE_CHANNEL);
		io_read_t rd;
		io_write_t wr;
		memset(&rd, 0, sizeof(rd));
		memset(&wr, 0, sizeof(wr));
		parts += (int)_IO_READ_GET_NBYTES(&rd) + (int)_IO_WRITE_GET_NBYTES(&wr) + side;
		message_attach(dpp, NULL, _IO_MAX + 1, _IO_MAX + 10, NULL, NULL);
		int info_val = 0;
		devctl(coid, DCMD_ALL_GETFLAGS, buf, sizeof(int), &info_val);
		dispatch_destroy(dpp);
#ifndef __cplusplus
		parts += min(1, 2) + max(1, 2); /* QNX's headers define them for C */
#endif
		printf("%d %d %d %d\n", p.code, _IO_CONNECT, getpid(), parts);
	}
	puts("ok");
	return EXIT_SUCCESS;
}
