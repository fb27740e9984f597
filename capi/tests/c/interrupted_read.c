/*
 * A plain Linux reader (not linked with libqnetc): open PATH, arm SIGALRM (no SA_RESTART)
 * for one second, read. Prints "read <n>" or "read error <errno name>".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

int main(int argc, char *argv[])
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd == -1) {
		printf("open error %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	printf("opened\n");
	fflush(stdout);
	alarm(1);
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n == -1)
		printf("read error %s\n", errno == EINTR ? "EINTR" : strerror(errno));
	else
		printf("read %zd\n", n);
	return 0;
}
