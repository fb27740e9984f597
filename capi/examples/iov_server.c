/*
 * Course exercise "IOV messaging": the server receives only the header, then MsgReads the
 * data the header announces.
 * Usage: iov_server [name] (default iov_server). Prints "attached <name>", then for each
 * request "got <n> bytes", replying with the checksum of the data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/dispatch.h>

#define MSG_CHECKSUM (_IO_MAX + 0x1E01) /* 0x2000: user messages start above _IO_MAX */

typedef struct {
	uint32_t type;
	uint32_t len;
} header_t;

typedef union {
	uint16_t type;
	struct _pulse pulse;
	header_t hdr;
} msg_t;

int main(int argc, char *argv[])
{
	const char *name = argc > 1 ? argv[1] : "iov_server";
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
			if (msg.pulse.code == _PULSE_CODE_DISCONNECT)
				ConnectDetach(msg.pulse.scoid);
			continue;
		}
		if (msg.type == _IO_CONNECT) {
			MsgReply(rcvid, EOK, NULL, 0);
			continue;
		}
		if (info.msglen < (ssize_t)sizeof(header_t) || msg.hdr.type != MSG_CHECKSUM || msg.hdr.len > (1u << 20)) {
			MsgError(rcvid, EINVAL);
			continue;
		}
		char *data = malloc(msg.hdr.len + 1);
		ssize_t n = MsgRead(rcvid, data, msg.hdr.len, sizeof(header_t));
		if (n == -1) {
			MsgError(rcvid, errno);
			free(data);
			continue;
		}
		printf("got %zd bytes\n", n);
		fflush(stdout);
		int sum = 0;
		for (ssize_t i = 0; i < n; i++)
			sum += (unsigned char)data[i];
		free(data);
		MsgReply(rcvid, EOK, &sum, sizeof(sum));
	}
}
