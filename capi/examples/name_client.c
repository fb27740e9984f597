/*
 * Course exercise "How a client finds a server": find the checksum server by name.
 * Usage: name_client <name> <text>; <node>/<name> reaches a server on another node.
 * Prints "checksum=<n>"; on failure "error: <call>: <strerror>" on stderr and exit 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/dispatch.h>

int main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s [<node>/]<name> <text>\n", argv[0]);
		return EXIT_FAILURE;
	}
	int coid = name_open(argv[1], 0);
	if (coid == -1) {
		fprintf(stderr, "error: name_open: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	int checksum;
	if (MsgSend(coid, argv[2], strlen(argv[2]), &checksum, sizeof(checksum)) == -1) {
		fprintf(stderr, "error: MsgSend: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	printf("checksum=%d\n", checksum);
	name_close(coid);
	return EXIT_SUCCESS;
}
