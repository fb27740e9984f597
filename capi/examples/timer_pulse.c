/*
 * Course exercise "Timers": a periodic timer that delivers a pulse to our own channel
 * (timer_create with a SIGEV_PULSE event, timer_settime), the usual way QNX programs drive
 * periodic work.
 * Usage: timer_pulse [count] [period_ms] (defaults 5, 100). Prints "tick <n> code=<c>
 * value=<v>" per pulse, then "done".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/neutrino.h>

#define TIMER_CODE (_PULSE_CODE_MINAVAIL + 3)

int main(int argc, char *argv[])
{
	int count = argc > 1 ? atoi(argv[1]) : 5;
	long period_ms = argc > 2 ? atol(argv[2]) : 100;
	int chid = ChannelCreate(0);
	int coid = ConnectAttach(ND_LOCAL_NODE, 0, chid, _NTO_SIDE_CHANNEL, 0);
	if (chid == -1 || coid == -1) {
		perror("channel");
		return EXIT_FAILURE;
	}
	struct sigevent ev;
	SIGEV_PULSE_INIT(&ev, coid, SIGEV_PULSE_PRIO_INHERIT, TIMER_CODE, 42);
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &ev, &timer) == -1) {
		perror("timer_create");
		return EXIT_FAILURE;
	}
	struct itimerspec its;
	its.it_value.tv_sec = period_ms / 1000;
	its.it_value.tv_nsec = (period_ms % 1000) * 1000000;
	its.it_interval = its.it_value;
	if (timer_settime(timer, 0, &its, NULL) == -1) {
		perror("timer_settime");
		return EXIT_FAILURE;
	}
	struct _pulse pulse;
	for (int n = 1; n <= count;) {
		if (MsgReceive(chid, &pulse, sizeof(pulse), NULL) == 0) {
			printf("tick %d code=%d value=%d\n", n++, pulse.code, pulse.value.sival_int);
			fflush(stdout);
		}
	}
	timer_delete(timer);
	printf("done\n");
	return EXIT_SUCCESS;
}
