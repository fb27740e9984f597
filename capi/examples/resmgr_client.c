/*
 * Course exercise "Resource managers": the client of resmgr_server.
 * Usage: resmgr_client [path] [text]   (default /dev/qnet/buffer, "hello resmgr")
 * open()s the path, write()s the text, lseek()s back, read()s it, fstat()s, runs the
 * server's devctl commands (and one it does not know: ENOTTY), sends an _IO_MSG with
 * MsgSend on the descriptor (it is a connection id, as on QNX), and close()s.
 * Prints one line per step; exits non-zero on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <devctl.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "resmgr_buffer.h"

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	return EXIT_FAILURE;
}

int main(int argc, char *argv[])
{
	const char *path = argc > 1 ? argv[1] : "/dev/qnet/buffer";
	const char *text = argc > 2 ? argv[2] : "hello resmgr";

	int fd = open(path, O_RDWR);
	if (fd == -1)
		return fail("open");
	printf("open fd=%d\n", fd);

	ssize_t n = write(fd, text, strlen(text));
	if (n == -1)
		return fail("write");
	printf("write %zd\n", n);

	if (lseek(fd, 0, SEEK_SET) != 0)
		return fail("lseek");
	char buf[256] = {0};
	n = read(fd, buf, sizeof(buf) - 1);
	if (n == -1)
		return fail("read");
	printf("read %zd \"%s\"\n", n, buf);

	struct stat st;
	if (fstat(fd, &st) == -1)
		return fail("fstat");
	printf("fstat size=%lld mode=%o\n", (long long)st.st_size, (unsigned)st.st_mode);

	int writes = 0, info = 0;
	int e = devctl(fd, BUFFER_GET_WRITES, &writes, sizeof(writes), &info);
	if (e != EOK) {
		errno = e;
		return fail("devctl get_writes");
	}
	printf("devctl writes=%d info=%d\n", writes, info);

	struct buffer_swap s = {1, 2};
	e = devctl(fd, BUFFER_SWAP, &s, sizeof(s), NULL);
	if (e != EOK) {
		errno = e;
		return fail("devctl swap");
	}
	printf("devctl swap a=%d b=%d\n", s.a, s.b);

	e = devctl(fd, BUFFER_UNKNOWN, NULL, 0, NULL);
	printf("devctl unknown: %s\n", e == ENOTTY ? "ENOTTY" : strerror(e));

	struct {
		struct _io_msg hdr;
		char text[32];
	} m;
	memset(&m, 0, sizeof(m));
	m.hdr.type = _IO_MSG;
	strcpy(m.text, "raw");
	char reply[64] = {0};
	long status = MsgSend(fd, &m, sizeof(m.hdr) + strlen(m.text), reply, sizeof(reply));
	if (status == -1)
		return fail("MsgSend on the descriptor");
	printf("MsgSend status=%ld reply=%s\n", status, reply);

	if (close(fd) == -1)
		return fail("close");
	printf("closed\n");
	return EXIT_SUCCESS;
}
