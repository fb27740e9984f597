/*
 * Course demo "handling client unblock pulses": a server whose channel has
 * _NTO_CHF_UNBLOCK and that delays its replies.
 * Usage: unblock_server [delay_secs] (default 20). Prints "pid=<pid> chid=<chid>",
 * "received rcvid=<r>" per message, and on an unblock pulse "unblock rcvid=<r>", answering
 * that client at once with MsgError(rcvid, -1), the course's "use the right error" (the
 * client timed out: ETIMEDOUT). Others get "late reply" after the delay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/neutrino.h>

#define MAX_PENDING 64

struct pending {
	int rcvid;
	uint64_t due; /* ns, CLOCK_MONOTONIC */
};
static struct pending pending[MAX_PENDING];
static int npending;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char *argv[])
{
	uint64_t delay = (uint64_t)(argc > 1 ? atoi(argv[1]) : 20) * 1000000000ULL;
	int chid = ChannelCreate(_NTO_CHF_UNBLOCK);
	if (chid == -1) {
		perror("ChannelCreate");
		return EXIT_FAILURE;
	}
	printf("pid=%d chid=%d\n", getpid(), chid);
	fflush(stdout);
	union {
		struct _pulse pulse;
		char text[256];
	} msg;
	for (;;) {
		if (npending > 0) {
			uint64_t due = pending[0].due, now = now_ns();
			for (int i = 1; i < npending; i++)
				if (pending[i].due < due)
					due = pending[i].due;
			uint64_t left = due > now ? due - now : 0;
			TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &left, NULL);
		}
		int rcvid = MsgReceive(chid, &msg, sizeof(msg), NULL);
		if (rcvid == 0 && msg.pulse.code == _PULSE_CODE_UNBLOCK) {
			int r = msg.pulse.value.sival_int;
			printf("unblock rcvid=%d\n", r);
			for (int i = 0; i < npending; i++)
				if (pending[i].rcvid == r)
					pending[i--] = pending[--npending];
			/* -1: "use the right error" (ETIMEDOUT for this client's timeout) */
			if (MsgError(r, -1) == -1)
				printf("msg_error rcvid=%d failed: %d\n", r, errno);
		} else if (rcvid > 0) {
			printf("received rcvid=%d\n", rcvid);
			if (npending < MAX_PENDING)
				pending[npending++] = (struct pending){ rcvid, now_ns() + delay };
		} else if (rcvid == -1 && errno != ETIMEDOUT) {
			perror("MsgReceive");
			return EXIT_FAILURE;
		}
		uint64_t now = now_ns();
		for (int i = 0; i < npending; i++)
			if (pending[i].due <= now) {
				MsgReply(pending[i].rcvid, EOK, "late reply", 11);
				pending[i--] = pending[--npending];
			}
		fflush(stdout);
	}
}
