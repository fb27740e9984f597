/* QNX code as found: a thread started with a NULL id, and QNX's delay(). */
#include <pthread.h>
#include <stdio.h>
#include <sys/neutrino.h>

static volatile int ran;

static void *work(void *arg)
{
	(void)arg;
	ran = 1;
	return NULL;
}

int main(void)
{
	pthread_create(NULL, NULL, work, NULL);
	while (!ran)
		delay(1);
	printf("thread ran\n");
	return 0;
}
