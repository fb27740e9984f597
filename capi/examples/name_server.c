/*
 * Course exercise "How a client finds a server": the checksum server under a name.
 * Usage: name_server [name]. Prints "attached <name>", then serves checksums. It answers
 * the _IO_CONNECT message name_open() sends, refuses other I/O messages with ENOSYS, and
 * prints the kernel pulses name_attach's channel gets ("disconnect scoid=<s>", releasing the
 * scoid with ConnectDetach).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/dispatch.h>

typedef union {
	uint16_t type;
	struct _pulse pulse;
	char text[4096];
} msg_t;

int main(int argc, char *argv[])
{
	const char *name = argc > 1 ? argv[1] : "name_server";
	name_attach_t *attach = name_attach(NULL, name, 0);
	if (attach == NULL) {
		perror("name_attach");
		return EXIT_FAILURE;
	}
	printf("attached %s\n", name);
	fflush(stdout);
	msg_t msg;
	struct _msg_info info;
	for (;;) {
		int rcvid = MsgReceive(attach->chid, &msg, sizeof(msg), &info);
		if (rcvid == -1) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		if (rcvid == 0) {
			switch (msg.pulse.code) {
			case _PULSE_CODE_DISCONNECT:
				printf("disconnect scoid=%d\n", msg.pulse.scoid);
				ConnectDetach(msg.pulse.scoid);
				break;
			case _PULSE_CODE_UNBLOCK:
				printf("unblock rcvid=%d\n", msg.pulse.value.sival_int);
				break;
			default:
				printf("pulse code=%d value=%d\n", msg.pulse.code, msg.pulse.value.sival_int);
			}
			fflush(stdout);
			continue;
		}
		if (msg.type == _IO_CONNECT) {
			printf("connect from pid=%d\n", info.pid);
			fflush(stdout);
			MsgReply(rcvid, EOK, NULL, 0);
			continue;
		}
		if (msg.type > _IO_BASE && msg.type <= _IO_MAX) {
			MsgError(rcvid, ENOSYS);
			continue;
		}
		int sum = 0;
		for (ssize_t i = 0; i < info.msglen; i++)
			sum += (unsigned char)msg.text[i];
		MsgReply(rcvid, EOK, &sum, sizeof(sum));
	}
}
