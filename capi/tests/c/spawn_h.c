/* QNX programs that take the spawn family from <spawn.h>: glibc's posix_spawn is still there. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

extern char **environ;

int main(void)
{
	int r = spawnl(P_WAIT, "/bin/sh", "sh", "-c", "exit 4", (char *)NULL);
	pid_t pid;
	char *const argv[] = {"sh", "-c", "exit 2", NULL};
	int status = 0;
	int p = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid;
	printf("spawnl %d posix_spawn %d\n", WIFEXITED(r) ? WEXITSTATUS(r) : -1,
	       p && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return P_NOWAIT == 1 && P_NOWAITO == 3 ? 0 : 1;
}
