/*
 * Course exercise "Shared memory": create a named shared-memory object and update it.
 * Layout (shared with the Rust examples): a 32-bit count, then a NUL-terminated text.
 * Usage: shmem_creator <name> [updates] [interval_ms] (defaults 5, 200). Prints
 * "created <name>", "updated count=<n>" per update, then waits for SIGTERM/SIGINT (or a line
 * on stdin, when it is a terminal) before unlinking the object and printing "removed <name>".
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SIZE 4096

static void put(char *mem, uint32_t count, const char *text)
{
	strncpy(mem + 4, text, SIZE - 5);
	__atomic_store_n((uint32_t *)mem, count, __ATOMIC_RELEASE);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <name> [updates] [interval_ms]\n", argv[0]);
		return EXIT_FAILURE;
	}
	const char *name = argv[1];
	int updates = argc > 2 ? atoi(argv[2]) : 5;
	long interval = argc > 3 ? atol(argv[3]) : 200;
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	int fd = shm_open(name, O_RDWR | O_CREAT, 0666);
	if (fd == -1 || ftruncate(fd, SIZE) == -1) {
		perror("shm_open");
		return EXIT_FAILURE;
	}
	char *mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return EXIT_FAILURE;
	}
	close(fd);
	put(mem, 0, "initial");
	printf("created %s\n", name);
	fflush(stdout);
	for (int n = 1; n <= updates; n++) {
		struct timespec ts = { interval / 1000, (interval % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		char text[64];
		snprintf(text, sizeof(text), "update number %d", n);
		put(mem, (uint32_t)n, text);
		printf("updated count=%d\n", n);
		fflush(stdout);
	}
	if (isatty(STDIN_FILENO)) {
		printf("press Enter to remove %s\n", name);
		fflush(stdout);
		getchar();
	} else {
		int sig;
		sigwait(&stop, &sig);
	}
	shm_unlink(name);
	printf("removed %s\n", name);
	return EXIT_SUCCESS;
}
