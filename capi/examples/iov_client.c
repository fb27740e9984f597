/*
 * Course exercise "IOV messaging": send a header and a variable-length string as a two-part
 * IOV (MsgSendv).
 * Usage: iov_client <text> [name] (default iov_server; <node>/<name> for another node).
 * Prints "checksum=<n>".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/dispatch.h>

#define MSG_CHECKSUM 0x2000

typedef struct {
	uint32_t type;
	uint32_t len;
} header_t;

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <text> [[<node>/]name]\n", argv[0]);
		return EXIT_FAILURE;
	}
	const char *name = argc > 2 ? argv[2] : "iov_server";
	int coid = name_open(name, 0);
	if (coid == -1) {
		fprintf(stderr, "error: name_open: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	header_t hdr = { MSG_CHECKSUM, (uint32_t)strlen(argv[1]) };
	iov_t siov[2], riov[1];
	int checksum;
	SETIOV(&siov[0], &hdr, sizeof(hdr));
	SETIOV(&siov[1], argv[1], hdr.len);
	SETIOV(&riov[0], &checksum, sizeof(checksum));
	if (MsgSendv(coid, siov, 2, riov, 1) == -1) {
		fprintf(stderr, "error: MsgSendv: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	printf("checksum=%d\n", checksum);
	return EXIT_SUCCESS;
}
