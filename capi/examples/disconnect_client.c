/*
 * Course demo "cleanup upon client disconnect": connect, send one message, exit.
 * Usage: disconnect_client <pid> <chid> [node]. Prints "checksum=<n>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/netmgr.h>

int main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <pid> <chid> [node]\n", argv[0]);
		return EXIT_FAILURE;
	}
	int nd = argc > 3 ? netmgr_strtond(argv[3], NULL) : ND_LOCAL_NODE;
	int coid = ConnectAttach(nd, atoi(argv[1]), atoi(argv[2]), _NTO_SIDE_CHANNEL, 0);
	if (coid == -1) {
		perror("ConnectAttach");
		return EXIT_FAILURE;
	}
	const char *text = "disconnect me";
	int checksum;
	if (MsgSend(coid, text, strlen(text), &checksum, sizeof(checksum)) == -1) {
		perror("MsgSend");
		return EXIT_FAILURE;
	}
	printf("checksum=%d\n", checksum);
	return EXIT_SUCCESS; /* exiting detaches: the server gets a disconnect pulse */
}
