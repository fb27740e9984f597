/* QNX's spawn family (<process.h>): every form, every mode, the errors. Prints PASS/FAIL
 * lines and failures=N; needs no daemon. */
#include <errno.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(what, cond, ...)                                                                   \
	do {                                                                                     \
		if (cond) {                                                                      \
			printf("PASS %s\n", what);                                               \
		} else {                                                                         \
			failures++;                                                              \
			printf("FAIL %s: ", what);                                               \
			printf(__VA_ARGS__);                                                     \
			printf(" (errno %d %s)\n", errno, strerror(errno));                      \
		}                                                                                \
	} while (0)

static int exited_with(int status, int code)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/* Wait until `path` holds a line (a P_NOWAITO child writes it), up to 10 s. */
static long read_pid_file(const char *path)
{
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");
		long v = 0;
		if (f) {
			int ok = fscanf(f, "%ld", &v) == 1;
			fclose(f);
			if (ok)
				return v;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

int main(void)
{
	char *const sh_exit3[] = {"sh", "-c", "exit 3", NULL};
	char *const env_yes[] = {"QNET_SPAWN=yes", "PATH=/usr/bin:/bin", NULL};
	char *const check_env[] = {"sh", "-c", "test \"$QNET_SPAWN\" = yes", NULL};
	int r;

	/* P_WAIT: the child's wait status, as QNX's spawn*() returns it. */
	r = spawnl(P_WAIT, "/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
	CHECK("spawnl P_WAIT exit status", exited_with(r, 3), "r %d", r);
	r = spawnl(P_WAIT, "/bin/sh", "sh", "-c", "exit $#", "x", "a", "b", "c", "d", (char *)NULL);
	CHECK("spawnl passes every argument", exited_with(r, 4), "r %d", r);
	r = spawnl(P_WAIT, "/bin/sh", "sh", "-c", "kill -9 $$", (char *)NULL);
	CHECK("spawnl P_WAIT killed child", r != -1 && WIFSIGNALED(r) && WTERMSIG(r) == 9, "r %d", r);
	r = spawnlp(P_WAIT, "sh", "sh", "-c", "exit 5", (char *)NULL);
	CHECK("spawnlp searches PATH", exited_with(r, 5), "r %d", r);
	r = spawnv(P_WAIT, "/bin/sh", sh_exit3);
	CHECK("spawnv P_WAIT", exited_with(r, 3), "r %d", r);
	r = spawnvp(P_WAIT, "sh", sh_exit3);
	CHECK("spawnvp P_WAIT", exited_with(r, 3), "r %d", r);

	/* The *e forms: the given environment, or this process's for NULL. */
	unsetenv("QNET_SPAWN");
	r = spawnle(P_WAIT, "/bin/sh", "sh", "-c", "test \"$QNET_SPAWN\" = yes", (char *)NULL, env_yes);
	CHECK("spawnle environment", exited_with(r, 0), "r %d", r);
	r = spawnlpe(P_WAIT, "sh", "sh", "-c", "test \"$QNET_SPAWN\" = yes", (char *)NULL, env_yes);
	CHECK("spawnlpe environment", exited_with(r, 0), "r %d", r);
	r = spawnve(P_WAIT, "/bin/sh", check_env, env_yes);
	CHECK("spawnve environment", exited_with(r, 0), "r %d", r);
	r = spawnvpe(P_WAIT, "sh", check_env, env_yes);
	CHECK("spawnvpe environment", exited_with(r, 0), "r %d", r);
	r = spawnve(P_WAIT, "/bin/sh", check_env, NULL);
	CHECK("spawnve NULL envp without the variable", exited_with(r, 1), "r %d", r);
	setenv("QNET_SPAWN", "yes", 1);
	r = spawnve(P_WAIT, "/bin/sh", check_env, NULL);
	CHECK("spawnve NULL envp inherits", exited_with(r, 0), "r %d", r);

	/* P_NOWAIT: the pid, collected with waitpid. */
	int kid = spawnl(P_NOWAIT, "/bin/sh", "sh", "-c", "exit 6", (char *)NULL);
	int status = 0;
	CHECK("spawnl P_NOWAIT pid", kid > 0, "kid %d", kid);
	CHECK("P_NOWAIT child is waitable", waitpid(kid, &status, 0) == kid && exited_with(status, 6),
	      "status %d", status);
	kid = spawnvpe(P_NOWAIT, "sh", sh_exit3, env_yes);
	CHECK("spawnvpe P_NOWAIT", kid > 0 && waitpid(kid, &status, 0) == kid && exited_with(status, 3),
	      "kid %d status %d", kid, status);

	/* P_NOWAITO: the pid of a child that is not ours to wait for (no zombie left). */
	char file[64];
	snprintf(file, sizeof(file), "/tmp/qnet-spawn-%d", (int)getpid());
	unlink(file);
	char script[256];
	snprintf(script, sizeof(script), "echo $$ > %s.tmp && mv %s.tmp %s", file, file, file);
	kid = spawnl(P_NOWAITO, "/bin/sh", "sh", "-c", script, (char *)NULL);
	long ran = read_pid_file(file);
	CHECK("spawnl P_NOWAITO runs the child and returns its pid", kid > 0 && ran == kid, "kid %d ran %ld", kid, ran);
	errno = 0;
	r = waitpid(kid, &status, 0);
	CHECK("P_NOWAITO child cannot be waited for", r == -1 && errno == ECHILD, "r %d", r);
	CHECK("P_NOWAITO leaves no child of ours", waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD, "a child is left");
	unlink(file);

	/* P_OVERLAY: the child replaces the process (checked in a forked copy of this one). */
	pid_t f = fork();
	if (f == 0) {
		spawnl(P_OVERLAY, "/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
		_exit(99);
	}
	CHECK("spawnl P_OVERLAY replaces the process", waitpid(f, &status, 0) == f && exited_with(status, 7),
	      "status %d", status);
	f = fork();
	if (f == 0) {
		spawnvp(P_OVERLAY, "sh", sh_exit3);
		_exit(99);
	}
	CHECK("spawnvp P_OVERLAY", waitpid(f, &status, 0) == f && exited_with(status, 3), "status %d", status);

	/* Errors: -1 with errno, nothing left running. */
	errno = 0;
	r = spawnl(P_WAIT, "/nonexistent/qnet", "x", (char *)NULL);
	CHECK("missing program ENOENT", r == -1 && errno == ENOENT, "r %d", r);
	errno = 0;
	r = spawnlp(P_NOWAIT, "qnet-no-such-program", "x", (char *)NULL);
	CHECK("missing program on PATH ENOENT", r == -1 && errno == ENOENT, "r %d", r);
	errno = 0;
	r = spawnl(P_NOWAITO, "/nonexistent/qnet", "x", (char *)NULL);
	CHECK("P_NOWAITO missing program ENOENT", r == -1 && errno == ENOENT, "r %d", r);
	errno = 0;
	r = spawnl(P_OVERLAY, "/nonexistent/qnet", "x", (char *)NULL);
	CHECK("P_OVERLAY missing program ENOENT, still running", r == -1 && errno == ENOENT, "r %d", r);
	errno = 0;
	r = spawnl(42, "/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
	CHECK("unknown mode EINVAL", r == -1 && errno == EINVAL, "r %d", r);
	errno = 0;
	r = spawnv(P_WAIT, "/bin/sh", NULL);
	CHECK("NULL argv EINVAL", r == -1 && errno == EINVAL, "r %d", r);
	CHECK("no child left behind", waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD, "a child is left");

	printf("failures=%d\n", failures);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
