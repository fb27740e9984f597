/*
 * Course exercise "Event delivery": the server keeps each client's registered event and
 * delivers it every second (driven by a pulse timer), with an increasing value when the
 * client made the event updateable.
 * Usage: event_server [name] (default event_server). Prints "attached <name>", and
 * "registered rcvid=<r>" per client. A client's disconnect removes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/dispatch.h>

#define MSG_REGISTER (_IO_MAX + 1)
#define TICK_CODE (_PULSE_CODE_MINAVAIL + 1)
#define MAX_CLIENTS 32

typedef struct {
	uint16_t type;
	struct sigevent ev;
} register_msg_t;

typedef union {
	uint16_t type;
	struct _pulse pulse;
	register_msg_t reg;
} msg_t;

struct client {
	int rcvid;
	int scoid;
	struct sigevent ev;
};
static struct client clients[MAX_CLIENTS];
static int nclients;

int main(int argc, char *argv[])
{
	const char *name = argc > 1 ? argv[1] : "event_server";
	name_attach_t *attach = name_attach(NULL, name, 0);
	if (attach == NULL) {
		perror("name_attach");
		return EXIT_FAILURE;
	}
	/* One tick a second: a pulse timer on a connection to our own channel. */
	int self = ConnectAttach(ND_LOCAL_NODE, 0, attach->chid, _NTO_SIDE_CHANNEL, 0);
	struct sigevent tick;
	SIGEV_PULSE_INIT(&tick, self, SIGEV_PULSE_PRIO_INHERIT, TICK_CODE, 0);
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &tick, &timer) == -1) {
		perror("timer_create");
		return EXIT_FAILURE;
	}
	struct itimerspec its = { .it_value = { 1, 0 }, .it_interval = { 1, 0 } };
	timer_settime(timer, 0, &its, NULL);
	printf("attached %s\n", name);
	fflush(stdout);
	int value = 1;
	msg_t msg;
	struct _msg_info info;
	for (;;) {
		int rcvid = MsgReceive(attach->chid, &msg, sizeof(msg), &info);
		if (rcvid == -1) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		if (rcvid == 0) {
			if (msg.pulse.code == TICK_CODE) {
				for (int i = 0; i < nclients; i++) {
					if (clients[i].ev.sigev_notify & SIGEV_FLAG_UPDATEABLE)
						clients[i].ev.sigev_value.sival_int = value;
					if (MsgDeliverEvent(clients[i].rcvid, &clients[i].ev) == -1)
						perror("MsgDeliverEvent");
				}
				value++;
			} else if (msg.pulse.code == _PULSE_CODE_DISCONNECT) {
				for (int i = 0; i < nclients; i++)
					if (clients[i].scoid == msg.pulse.scoid)
						clients[i--] = clients[--nclients];
				ConnectDetach(msg.pulse.scoid);
			}
			continue;
		}
		if (msg.type == _IO_CONNECT) {
			MsgReply(rcvid, EOK, NULL, 0);
			continue;
		}
		if (msg.type != MSG_REGISTER || info.msglen < (ssize_t)sizeof(register_msg_t)) {
			MsgError(rcvid, ENOSYS);
			continue;
		}
		/* Check the event now: a failure at delivery time could not be reported. */
		if (MsgVerifyEvent(rcvid, &msg.reg.ev) == -1) {
			MsgError(rcvid, errno);
			continue;
		}
		if (nclients == MAX_CLIENTS) {
			MsgError(rcvid, EAGAIN);
			continue;
		}
		clients[nclients].rcvid = rcvid;
		clients[nclients].scoid = info.scoid;
		clients[nclients].ev = msg.reg.ev;
		nclients++;
		MsgReply(rcvid, EOK, NULL, 0); /* "I'll do the work later" */
		printf("registered rcvid=%d\n", rcvid);
		fflush(stdout);
	}
}
