/*
 * Every header of libqnetc, included in an order real code uses, compiled with
 * -Wall -Wextra -Werror as C and as C++; a program's own "#define EOK 0" is not a
 * conflicting redefinition.
 */
#define EOK 0
#include <process.h>
#include <spawn.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>
#include <sys/iomsg.h>
#include <sys/netmgr.h>
#include <sys/neutrino.h>
#include <sys/siginfo.h>
#include <stdio.h>
#include <stdlib.h>

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
		printf("%d %d %d\n", p.code, _IO_CONNECT, getpid());
	}
	puts("ok");
	return EXIT_SUCCESS;
}
