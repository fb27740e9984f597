/*
 * Course demo "handling client unblock pulses": a client that stops waiting for the reply
 * after one second (TimerTimeout on the REPLY state).
 * Usage: unblock_client <pid> <chid> [node]. Prints "MsgSend failed: ETIMEDOUT" (or another
 * error's text) or "reply status=<n>".
 */
#include <errno.h>
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
	uint64_t timeout = 1000000000ULL;
	TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_REPLY, NULL, &timeout, NULL);
	char reply[64];
	long status = MsgSend(coid, "please reply later", 19, reply, sizeof(reply));
	if (status == -1)
		printf("MsgSend failed: %s\n", errno == ETIMEDOUT ? "ETIMEDOUT" : strerror(errno));
	else
		printf("reply status=%ld\n", status);
	return EXIT_SUCCESS;
}
