/*
 * Course exercise "Event delivery": the client fills in a pulse event aimed at its own
 * channel, makes it updateable, registers it for the server (MsgRegisterEvent), gives it to
 * the server in a message, then receives the pulses the server delivers.
 * Usage: event_client [count] [name] [old] (defaults 3, event_server; <node>/<name> for
 * another node). With "old" the event is not registered: the pattern before QNX 7.0, which
 * the server's MsgDeliverEvent serves the same way (local servers only). Prints
 * "event value=<v>" per pulse and exits after <count>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/dispatch.h>

#define MSG_REGISTER (_IO_MAX + 1)
#define OUR_CODE (_PULSE_CODE_MINAVAIL + 5)

typedef struct {
	uint16_t type;
	struct sigevent ev;
} register_msg_t;

int main(int argc, char *argv[])
{
	int count = argc > 1 ? atoi(argv[1]) : 3;
	const char *name = argc > 2 ? argv[2] : "event_server";
	int registered = !(argc > 3 && strcmp(argv[3], "old") == 0);
	int chid = ChannelCreate(0);
	int self = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
	int server = name_open(name, 0);
	if (chid == -1 || self == -1 || server == -1) {
		fprintf(stderr, "error: setup: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	register_msg_t msg;
	memset(&msg, 0, sizeof(msg));
	msg.type = MSG_REGISTER;
	SIGEV_PULSE_INIT(&msg.ev, self, SIGEV_PULSE_PRIO_INHERIT, OUR_CODE, 0);
	SIGEV_MAKE_UPDATEABLE(&msg.ev);
	if (registered && MsgRegisterEvent(&msg.ev, server) == -1) {
		fprintf(stderr, "error: MsgRegisterEvent: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (MsgSend(server, &msg, sizeof(msg), NULL, 0) == -1) {
		fprintf(stderr, "error: MsgSend: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	struct _pulse pulse;
	for (int seen = 0; seen < count;) {
		if (MsgReceive(chid, &pulse, sizeof(pulse), NULL) == 0 && pulse.code == OUR_CODE) {
			printf("event value=%d\n", pulse.value.sival_int);
			fflush(stdout);
			seen++;
		}
	}
	if (registered)
		MsgUnregisterEvent(&msg.ev);
	return EXIT_SUCCESS;
}
