/*
 * Course exercise "basic Send/Receive/Reply": the checksum server, in C.
 * Creates a channel, prints "pid=<pid> chid=<chid>", then loops: receive a string, reply
 * with the sum of its bytes (an int). Each message is logged as
 * "msg nd=<nd> pid=<pid> len=<msglen>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/neutrino.h>

int main(void)
{
	char msg[4096];
	struct _msg_info info;
	int chid = ChannelCreate(0);
	if (chid == -1) {
		perror("ChannelCreate");
		return EXIT_FAILURE;
	}
	printf("pid=%d chid=%d\n", getpid(), chid);
	fflush(stdout);
	for (;;) {
		rcvid_t rcvid = MsgReceive(chid, msg, sizeof(msg), &info);
		if (rcvid == -1) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		if (rcvid == 0)
			continue; /* a pulse: nothing to do */
		int sum = 0;
		for (ssize_t i = 0; i < info.msglen; i++)
			sum += (unsigned char)msg[i];
		printf("msg nd=%u pid=%d len=%zd\n", info.nd, info.pid, info.msglen);
		fflush(stdout);
		if (MsgReply(rcvid, EOK, &sum, sizeof(sum)) == -1)
			perror("MsgReply");
	}
}
