/*
 * Course exercise "Pulses": send a pulse, then a message.
 * Usage: pulse_client <pid> <chid> <code> <value> [node]. Prints "checksum=<n>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/netmgr.h>

int main(int argc, char *argv[])
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s <pid> <chid> <code> <value> [node]\n", argv[0]);
		return EXIT_FAILURE;
	}
	int nd = argc > 5 ? netmgr_strtond(argv[5], NULL) : ND_LOCAL_NODE;
	if (nd == -1) {
		perror("netmgr_strtond");
		return EXIT_FAILURE;
	}
	int coid = ConnectAttach(nd, atoi(argv[1]), atoi(argv[2]), _NTO_SIDE_CHANNEL, 0);
	if (coid == -1) {
		perror("ConnectAttach");
		return EXIT_FAILURE;
	}
	if (MsgSendPulse(coid, SIGEV_PULSE_PRIO_INHERIT, atoi(argv[3]), atoi(argv[4])) == -1) {
		perror("MsgSendPulse");
		return EXIT_FAILURE;
	}
	const char *text = "pulse client says hi";
	int checksum;
	if (MsgSend(coid, text, strlen(text), &checksum, sizeof(checksum)) == -1) {
		perror("MsgSend");
		return EXIT_FAILURE;
	}
	printf("checksum=%d\n", checksum);
	return EXIT_SUCCESS;
}
