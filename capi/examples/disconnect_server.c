/*
 * Course demo "cleanup upon client disconnect": a checksum server that keeps per-client
 * information by scoid and frees it, and the scoid, on the disconnect pulse.
 * Prints "pid=<pid> chid=<chid>", "client scoid=<s> pid=<p>" for each new client, and
 * "disconnect scoid=<s>" once it released that scoid with ConnectDetach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/neutrino.h>

#define MAX_CLIENTS 64

struct client {
	int scoid;
	pid_t pid;
};
static struct client clients[MAX_CLIENTS];
static int nclients;

static void add_client(int scoid, pid_t pid)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].scoid == scoid)
			return;
	if (nclients < MAX_CLIENTS) {
		clients[nclients].scoid = scoid;
		clients[nclients].pid = pid;
		nclients++;
		printf("client scoid=%d pid=%d\n", scoid, pid);
	}
}

static void remove_client(int scoid)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].scoid == scoid)
			clients[i] = clients[--nclients];
}

int main(void)
{
	union {
		struct _pulse pulse;
		char text[4096];
	} msg;
	struct _msg_info info;
	int chid = ChannelCreate(_NTO_CHF_DISCONNECT);
	if (chid == -1) {
		perror("ChannelCreate");
		return EXIT_FAILURE;
	}
	printf("pid=%d chid=%d\n", getpid(), chid);
	fflush(stdout);
	for (;;) {
		int rcvid = MsgReceive(chid, &msg, sizeof(msg), &info);
		if (rcvid == -1) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		if (rcvid == 0) {
			if (msg.pulse.code == _PULSE_CODE_DISCONNECT) {
				remove_client(msg.pulse.scoid);
				if (ConnectDetach(msg.pulse.scoid) == -1)
					perror("ConnectDetach(scoid)");
				else
					printf("disconnect scoid=%d\n", msg.pulse.scoid);
			} else {
				printf("pulse code=%d value=%d\n", msg.pulse.code, msg.pulse.value.sival_int);
			}
			fflush(stdout);
			continue;
		}
		add_client(info.scoid, info.pid);
		fflush(stdout);
		int sum = 0;
		for (ssize_t i = 0; i < info.msglen; i++)
			sum += (unsigned char)msg.text[i];
		MsgReply(rcvid, EOK, &sum, sizeof(sum));
	}
}
