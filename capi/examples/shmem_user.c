/*
 * Course exercise "Shared memory": open the creator's object read-only and follow it.
 * Usage: shmem_user <name> [until_count] (default 5). Prints "count=<n> text=<t>" for each
 * new count it sees, until <until_count>.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SIZE 4096

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <name> [until_count]\n", argv[0]);
		return EXIT_FAILURE;
	}
	uint32_t until = argc > 2 ? (uint32_t)atoi(argv[2]) : 5;
	int fd = shm_open(argv[1], O_RDONLY, 0);
	if (fd == -1) {
		perror("shm_open");
		return EXIT_FAILURE;
	}
	const char *mem = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return EXIT_FAILURE;
	}
	close(fd);
	int64_t last = -1;
	for (;;) {
		uint32_t count = __atomic_load_n((const uint32_t *)mem, __ATOMIC_ACQUIRE);
		if ((int64_t)count != last) {
			printf("count=%u text=%s\n", count, mem + 4);
			fflush(stdout);
			last = count;
			if (count >= until)
				return EXIT_SUCCESS;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}
