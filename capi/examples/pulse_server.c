/*
 * Course exercise "Pulses": the checksum server, extended to print the pulses it receives.
 * Prints "pid=<pid> chid=<chid>", then "pulse code=<c> value=<v>" for each pulse, and
 * answers each message with the checksum of its bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/neutrino.h>

typedef union {
	struct _pulse pulse;
	char text[4096];
} msg_t;

int main(void)
{
	msg_t msg;
	struct _msg_info info;
	int chid = ChannelCreate(0);
	if (chid == -1) {
		perror("ChannelCreate");
		return EXIT_FAILURE;
	}
	printf("pid=%d chid=%d\n", getpid(), chid);
	fflush(stdout);
	for (;;) {
		rcvid_t rcvid = MsgReceive(chid, &msg, sizeof(msg), &info);
		if (rcvid == -1) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		if (rcvid == 0) {
			printf("pulse code=%d value=%d\n", msg.pulse.code, msg.pulse.value.sival_int);
			fflush(stdout);
			continue;
		}
		int sum = 0;
		for (ssize_t i = 0; i < info.msglen; i++)
			sum += (unsigned char)msg.text[i];
		MsgReply(rcvid, EOK, &sum, sizeof(sum));
	}
}
