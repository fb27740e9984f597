/*
 * Priority inversion and real-time inheritance (issue 22), on one CPU:
 *   - a server that is an ordinary Linux program (SCHED_OTHER), attached as a name;
 *   - a CPU hog at SCHED_FIFO 15 (a "medium" priority), 400 ms of work;
 *   - a client at priority 30 (setprio: SCHED_RR 30) asking the server for 100 ms of work.
 * On QNX the server would take the client's priority 30 and preempt the hog. On Linux a
 * SCHED_OTHER thread is below every real-time one whatever its nice value, so qnet lends the
 * server a real-time policy at 30 while it serves the real-time client: the client's reply
 * comes before the hog finishes. The last line says which came first:
 *   order: high-first     (inheritance works)
 *   order: medium-first   (the hog starved the server: the inversion)
 *
 * Needs real-time scheduling (root, CAP_SYS_NICE or RLIMIT_RTPRIO) and a qnetd that may change
 * client threads (CAP_SYS_NICE), running real-time itself on the same CPU:
 *   taskset -c 0 qnetd --rt-priority 90 &
 *   taskset -c 0 ./priority_inversion
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/dispatch.h>
#include <sys/neutrino.h>
#include <process.h>
#include <qnet/compat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cpu;
static char name[64];
static atomic_int seq;
static int medium_done = -1, high_reply = -1;
static sem_t hog_running;

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Burn `ms` of this thread's own CPU time (time it is preempted does not count). */
static void spin(int ms)
{
	double end = thread_cpu() + ms / 1000.0;
	while (thread_cpu() < end)
		;
}

static void pin(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int first_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return 0;
}

/* The server: SCHED_OTHER, as most Linux programs are; "work N" spins N ms then replies. */
static int server(void)
{
	struct sched_param p = { .sched_priority = 0 };
	sched_setscheduler(0, SCHED_OTHER, &p);
	name_attach_t *att = name_attach(NULL, name, 0);
	if (att == NULL) {
		perror("name_attach");
		return EXIT_FAILURE;
	}
	char buf[64];
	for (;;) {
		int rcvid = MsgReceive(att->chid, buf, sizeof(buf), NULL);
		if (rcvid == -1)
			return EXIT_FAILURE;
		if (rcvid == 0)
			continue; /* pulses (disconnects) */
		if (strncmp(buf, "work ", 5) == 0)
			spin(atoi(buf + 5));
		MsgReply(rcvid, 0, "done", 5);
	}
}

static void *hog(void *arg)
{
	(void)arg;
	pin();
	struct sched_param p = { .sched_priority = 15 };
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
	sem_post(&hog_running);
	spin(400);
	medium_done = atomic_fetch_add(&seq, 1);
	return NULL;
}

static void *high(void *arg)
{
	int coid = *(int *)arg;
	pin();
	if (setprio(0, 30) == -1) /* QNX: priority 30, carried with its messages (SCHED_RR 30) */
		perror("setprio");
	char reply[8];
	if (MsgSend(coid, "work 100", 9, reply, sizeof(reply)) == -1)
		perror("MsgSend");
	high_reply = atomic_fetch_add(&seq, 1);
	return NULL;
}

int main(int argc, char *argv[])
{
	if (argc > 2 && strcmp(argv[1], "server") == 0) {
		snprintf(name, sizeof(name), "%s", argv[2]);
		return server();
	}
	snprintf(name, sizeof(name), "priority_inversion_%d", getpid());
	cpu = first_cpu();
	pin();
	/* The conductor outranks everyone so it can start each actor on time. */
	if (setprio(0, 50) == -1) {
		perror("setprio (needs real-time scheduling)");
		return EXIT_FAILURE;
	}
	int server_pid = spawnl(P_NOWAIT, "/proc/self/exe", argv[0], "server", name, (char *)NULL);
	if (server_pid == -1) {
		perror("spawnl");
		return EXIT_FAILURE;
	}
	int coid = -1;
	for (int i = 0; i < 1000 && coid == -1; i++) {
		coid = name_open(name, 0);
		if (coid == -1)
			usleep(10 * 1000);
	}
	if (coid == -1) {
		perror("name_open");
		kill(server_pid, SIGKILL);
		return EXIT_FAILURE;
	}
	printf("server pid=%d cpu=%d\n", server_pid, cpu);
	sem_init(&hog_running, 0, 0);
	pthread_t m, h;
	pthread_create(&m, NULL, hog, NULL);
	sem_wait(&hog_running);
	pthread_create(&h, NULL, high, &coid);
	pthread_join(h, NULL);
	pthread_join(m, NULL);
	kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
	printf("event %d high-reply\nevent %d medium-done\n", high_reply, medium_done);
	printf("order: %s\n", high_reply < medium_done ? "high-first" : "medium-first");
	return EXIT_SUCCESS;
}
