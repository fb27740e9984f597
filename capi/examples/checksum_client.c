/*
 * Course exercise "basic Send/Receive/Reply": the checksum client, in C.
 * Usage: checksum_client <pid> <chid> <text> [node]
 * Attaches to the server's channel (on <node> if given, by netmgr_strtond), sends the text
 * with its NUL, and prints "checksum=<sum>" (the sum of the text's bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/netmgr.h>

int main(int argc, char *argv[])
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s <pid> <chid> <text> [node]\n", argv[0]);
		return EXIT_FAILURE;
	}
	pid_t pid = (pid_t)atoi(argv[1]);
	int chid = atoi(argv[2]);
	const char *text = argv[3];
	int nd = ND_LOCAL_NODE;
	if (argc > 4) {
		nd = netmgr_strtond(argv[4], NULL);
		if (nd == -1) {
			perror("netmgr_strtond");
			return EXIT_FAILURE;
		}
	}
	int coid = ConnectAttach(nd, pid, chid, _NTO_SIDE_CHANNEL, 0);
	if (coid == -1) {
		perror("ConnectAttach");
		return EXIT_FAILURE;
	}
	int checksum = 0;
	/* The course sends the text without its NUL so the sum is of the characters only. */
	long status = MsgSend(coid, text, strlen(text), &checksum, sizeof(checksum));
	if (status == -1) {
		perror("MsgSend");
		return EXIT_FAILURE;
	}
	printf("status=%ld\n", status);
	printf("checksum=%d\n", checksum);
	ConnectDetach(coid);
	return EXIT_SUCCESS;
}
