/*
 * Checks of the resource-manager library and its clients that the examples do not make.
 * Usage: resmgr_test <check> [args]; prints one line per result, exits non-zero on a
 * failed expectation.
 *   attach-errors NODE  resmgr_attach refusals: `..`, another node's /net path, the same
 *                       path twice on one channel (clear errnos), a relative path (made
 *                       absolute), and resmgr_detach of an unknown id.
 *   read PATH           open O_RDONLY and read 64 bytes: "read <n>" or "read error <errno>"
 *                       (stays blocked while the manager does not answer).
 *   open PATH           open O_RDWR: "open ok" or "open error <errno>".
 *   glibc FILE          a path no manager attached goes to glibc unchanged (write, read back,
 *                       fstat, lseek, dup, close on a real file).
 *   serve PATH          a manager on PATH whose default handlers are QNX's (iofunc_func_init
 *                       only), served by a thread pool with POOL_FLAG_USE_SELF; prints
 *                       "serving".
 *   stdio PATH          stdio and path calls on a manager's PATH: fopen "r+", fputs,
 *                       rewind, fgets, fclose ("fgets \"<line>\""), stat ("stat
 *                       mode=<octal>"), access ("access ok"), and fopen "w" reaches the
 *                       manager, creating no file of that name ("real file ENOENT").
 *   named PATH NAME     resmgr_attach PATH, then name_attach(dpp, NAME) on the same
 *                       dispatch, served by one thread: "name_open ok", "name_detach ok",
 *                       "name_open after detach ENOENT", "path after detach ok".
 *   devctl PATH         resmgr_server's devctl commands on PATH (e.g. a file of qnetd's FUSE
 *                       mount: devctl becomes an ioctl there): "writes=<n> swap a=<a> b=<b>
 *                       unknown <errno>".
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include "resmgr_buffer.h"

static const char *ename(int e)
{
	switch (e) {
	case EOK: return "EOK";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EHOSTDOWN: return "EHOSTDOWN";
	default: return strerror(e);
	}
}

#define EXPECT(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } } while (0)

static resmgr_connect_funcs_t cf;
static resmgr_io_funcs_t iof;
static iofunc_attr_t attr;

static int attach(dispatch_t *dpp, const char *path, unsigned flags)
{
	return resmgr_attach(dpp, NULL, path, _FTYPE_ANY, flags, &cf, &iof, &attr);
}

static int attach_errors(const char *node)
{
	dispatch_t *dpp = dispatch_create();
	EXPECT(dpp != NULL, "dispatch_create: %s", strerror(errno));
	iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
	iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);

	int id = attach(dpp, "/dev/../etc/passwd", 0);
	printf("dotdot %s\n", id == -1 ? ename(errno) : "attached");
	char path[256];
	snprintf(path, sizeof(path), "/net/%s/dev/squat", node);
	id = attach(dpp, path, 0);
	printf("net %s\n", id == -1 ? ename(errno) : "attached");
	id = attach(dpp, "/dev/qnet/twice", 0);
	EXPECT(id != -1, "first attach: %s", strerror(errno));
	int again = attach(dpp, "/dev/qnet/twice", 0);
	printf("twice %s\n", again == -1 ? ename(errno) : "attached");
	EXPECT(chdir("/tmp") == 0, "chdir");
	int rel = attach(dpp, "qnet-relative", _RESMGR_FLAG_DIR);
	printf("relative %s\n", rel == -1 ? ename(errno) : "attached");
	printf("detach unknown %s\n", resmgr_detach(dpp, 12345, 0) == -1 ? ename(errno) : "ok");
	printf("detach %s\n", resmgr_detach(dpp, id, 0) == 0 ? "ok" : ename(errno));
	int fd = open("/dev/qnet/twice", O_RDONLY);
	printf("open after detach %s\n", fd == -1 ? ename(errno) : "opened");
	return 0;
}

static int do_read(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd == -1) {
		printf("open error %s\n", ename(errno));
		return 1;
	}
	printf("opened\n");
	fflush(stdout);
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n == -1)
		printf("read error %s\n", ename(errno));
	else
		printf("read %zd\n", n);
	return 0;
}

static int do_stdio(const char *path)
{
	FILE *f = fopen(path, "r+");
	EXPECT(f != NULL, "fopen r+: %s", strerror(errno));
	EXPECT(fputs("via stdio\n", f) >= 0 && fflush(f) == 0, "fputs: %s", strerror(errno));
	rewind(f);
	char line[64] = {0};
	EXPECT(fgets(line, sizeof(line), f) != NULL, "fgets: %s", strerror(errno));
	line[strcspn(line, "\n")] = 0;
	printf("fgets \"%s\"\n", line);
	EXPECT(fclose(f) == 0, "fclose: %s", strerror(errno));
	struct stat st;
	EXPECT(stat(path, &st) == 0, "stat: %s", strerror(errno));
	printf("stat mode=%o\n", (unsigned)st.st_mode);
	printf("access %s\n", access(path, R_OK | W_OK) == 0 ? "ok" : ename(errno));
	f = fopen(path, "w");
	EXPECT(f != NULL, "fopen w: %s", strerror(errno));
	EXPECT(fprintf(f, "%d\n", 42) == 3 && fclose(f) == 0, "fprintf: %s", strerror(errno));
	/* Straight to the kernel: is there a file of that name? */
	struct stat real;
	long r = syscall(SYS_newfstatat, AT_FDCWD, path, &real, 0);
	printf("real file %s\n", r == 0 ? "exists" : ename(errno));
	return 0;
}

static int do_open(const char *path)
{
	int fd = open(path, O_RDWR);
	printf("open %s\n", fd == -1 ? ename(errno) : "ok");
	return 0;
}

static int glibc_file(const char *file)
{
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	EXPECT(fd >= 0, "open %s: %s", file, strerror(errno));
	EXPECT(write(fd, "plain", 5) == 5, "write: %s", strerror(errno));
	EXPECT(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	int d = dup(fd);
	EXPECT(d >= 0, "dup");
	char buf[8] = {0};
	EXPECT(read(d, buf, sizeof(buf)) == 5 && memcmp(buf, "plain", 5) == 0, "read back");
	struct stat st;
	EXPECT(fstat(fd, &st) == 0 && st.st_size == 5 && S_ISREG(st.st_mode), "fstat");
	EXPECT(close(d) == 0 && close(fd) == 0, "close");
	EXPECT(close(fd) == -1 && errno == EBADF, "double close is glibc's EBADF");
	printf("glibc ok\n");
	return 0;
}

static int serve(const char *path)
{
	dispatch_t *dpp = dispatch_create();
	EXPECT(dpp != NULL, "dispatch_create");
	iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
	iofunc_attr_init(&attr, S_IFNAM | 0640, NULL, NULL);
	EXPECT(attach(dpp, path, 0) != -1, "attach: %s", strerror(errno));
	thread_pool_attr_t pa;
	memset(&pa, 0, sizeof(pa));
	pa.handle = dpp;
	pa.context_alloc = dispatch_context_alloc;
	pa.block_func = dispatch_block;
	pa.unblock_func = dispatch_unblock;
	pa.handler_func = dispatch_handler;
	pa.context_free = dispatch_context_free;
	pa.lo_water = 1;
	pa.hi_water = 2;
	pa.increment = 1;
	pa.maximum = 3;
	thread_pool_t *tp = thread_pool_create(&pa, POOL_FLAG_USE_SELF);
	EXPECT(tp != NULL, "thread_pool_create");
	printf("serving\n");
	fflush(stdout);
	thread_pool_start(tp);
	return 1;
}

static void *dispatch_loop(void *arg)
{
	dispatch_context_t *ctp = dispatch_context_alloc(arg);
	for (;;) {
		dispatch_context_t *got = dispatch_block(ctp);
		if (got)
			dispatch_handler(got);
	}
	return NULL;
}

/* resmgr_attach first, then name_attach on the same dispatch: the name goes on the
 * dispatch's channel, so its loop answers name_open; name_detach leaves the channel. */
static int named(const char *path, const char *name)
{
	dispatch_t *dpp = dispatch_create();
	EXPECT(dpp != NULL, "dispatch_create");
	iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
	iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);
	EXPECT(attach(dpp, path, 0) != -1, "attach: %s", strerror(errno));
	name_attach_t *na = name_attach(dpp, name, 0);
	EXPECT(na != NULL, "name_attach: %s", strerror(errno));
	pthread_t t;
	pthread_create(&t, NULL, dispatch_loop, dpp);
	alarm(30); /* a name_open nobody answers would hang */
	int coid = name_open(name, 0);
	printf("name_open %s\n", coid == -1 ? ename(errno) : "ok");
	name_close(coid);
	printf("name_detach %s\n", name_detach(na, 0) == 0 ? "ok" : ename(errno));
	coid = name_open(name, 0);
	printf("name_open after detach %s\n", coid == -1 ? ename(errno) : "ok");
	/* The channel (and its direct path) stays the dispatch's: the path is served on. */
	int ok = 0;
	for (int i = 0; i < 20; i++) {
		int fd = open(path, O_RDWR);
		if (fd == -1) {
			printf("path after detach %s\n", ename(errno));
			return 0;
		}
		ok += close(fd) == 0;
	}
	printf("path after detach %s\n", ok == 20 ? "ok" : "close failed");
	return 0;
}

static int do_devctl(const char *path)
{
	int fd = open(path, O_RDWR);
	EXPECT(fd >= 0, "open %s: %s", path, strerror(errno));
	int writes = -1;
	int e = devctl(fd, BUFFER_GET_WRITES, &writes, sizeof(writes), NULL);
	EXPECT(e == EOK, "get_writes: %s", strerror(e));
	struct buffer_swap s = {1, 2};
	e = devctl(fd, BUFFER_SWAP, &s, sizeof(s), NULL);
	EXPECT(e == EOK, "swap: %s", strerror(e));
	e = devctl(fd, BUFFER_UNKNOWN, NULL, 0, NULL);
	printf("writes=%d swap a=%d b=%d unknown %s\n", writes, s.a, s.b, e == ENOTTY ? "ENOTTY" : ename(e));
	close(fd);
	return 0;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "attach-errors") == 0)
		return attach_errors(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "read") == 0)
		return do_read(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "open") == 0)
		return do_open(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "glibc") == 0)
		return glibc_file(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "named") == 0)
		return named(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "stdio") == 0)
		return do_stdio(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "devctl") == 0)
		return do_devctl(argv[2]);
	fprintf(stderr, "usage: resmgr_test attach-errors|read|open|glibc|serve|devctl ARG\n");
	return 2;
}
