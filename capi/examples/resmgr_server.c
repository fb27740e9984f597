/*
 * Course exercise "Resource managers": a device that keeps what is written to it.
 * Usage: resmgr_server [-t] [-h] [path]   (default path /dev/qnet/buffer)
 *   -t  serve with a thread pool instead of one dispatch_block/dispatch_handler loop;
 *   -h  "hang": read requests are never answered (the unblock handler says when a client
 *       wants out, and answers it with EINTR).
 * Prints "attached <path> id=<id>" once reachable, then one line per event:
 * "open pid=<p> uid=<u> ioflag=<f>", "write <n>", "devctl <name>", "msg <text>",
 * "read held" (with -h), "unblock", "close".
 *
 * Handlers, as QNX's library calls them: read and write (with the OCB's offset), devctl
 * (three commands in QNX's __DIOF/__DIOT/__DIOTF encoding), msg (an _IO_MSG sent with
 * MsgSend on the descriptor), unblock and close_ocb; everything else the iofunc defaults.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <devctl.h>
#include <sys/iofunc.h>
#include <sys/dispatch.h>

#include "resmgr_buffer.h"

static char buffer[BUFFER_MAX];
static int fill_char = 0;
static int writes = 0;
static int hang = 0;
static iofunc_attr_t attr;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int io_open(resmgr_context_t *ctp, io_open_t *msg, iofunc_attr_t *handle, void *extra)
{
	struct _client_info info;
	if (iofunc_client_info(ctp, 0, &info) == EOK) {
		say("open pid=%d uid=%u ioflag=%u", (int)info.pid, (unsigned)info.cred.euid,
		    (unsigned)msg->connect.ioflag);
	}
	return iofunc_open_default(ctp, msg, handle, extra);
}

static int io_read(resmgr_context_t *ctp, io_read_t *msg, iofunc_ocb_t *ocb)
{
	int status = iofunc_read_verify(ctp, msg, ocb, NULL);
	if (status != EOK)
		return status;
	if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
		return ENOSYS;
	if (hang) {
		say("read held");
		return _RESMGR_NOREPLY;
	}
	int nleft = (int)(ocb->attr->nbytes - ocb->offset);
	int nbytes = min(msg->i.nbytes, nleft);
	if (nbytes > 0) {
		SETIOV(ctp->iov, buffer + ocb->offset, nbytes);
		_IO_SET_READ_NBYTES(ctp, nbytes);
		ocb->offset += nbytes;
		ocb->attr->flags |= IOFUNC_ATTR_ATIME;
		return _RESMGR_NPARTS(1);
	}
	_IO_SET_READ_NBYTES(ctp, 0);
	return _RESMGR_NPARTS(0);
}

static int io_write(resmgr_context_t *ctp, io_write_t *msg, iofunc_ocb_t *ocb)
{
	int status = iofunc_write_verify(ctp, msg, ocb, NULL);
	if (status != EOK)
		return status;
	if ((msg->i.xtype & _IO_XTYPE_MASK) != _IO_XTYPE_NONE)
		return ENOSYS;
	size_t n = (size_t)msg->i.nbytes;
	if (ocb->offset + (off_t)n > BUFFER_MAX)
		return ENOSPC;
	if (resmgr_msgread(ctp, buffer + ocb->offset, n, sizeof(msg->i)) != (ssize_t)n)
		return EIO;
	ocb->offset += (off_t)n;
	if (ocb->offset > ocb->attr->nbytes)
		ocb->attr->nbytes = ocb->offset;
	writes++;
	say("write %zu", n);
	_IO_SET_WRITE_NBYTES(ctp, n);
	ocb->attr->flags |= IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME;
	return _RESMGR_NPARTS(0);
}

static int io_devctl(resmgr_context_t *ctp, io_devctl_t *msg, iofunc_ocb_t *ocb)
{
	int status = iofunc_devctl_default(ctp, msg, ocb);
	if (status != _RESMGR_DEFAULT)
		return status;
	void *data = _DEVCTL_DATA(msg->i);
	int nbytes = 0;
	switch (msg->i.dcmd) {
	case BUFFER_GET_WRITES:
		say("devctl get_writes");
		*(int *)data = writes;
		nbytes = sizeof(int);
		break;
	case BUFFER_SET_FILL:
		fill_char = *(int *)data;
		memset(buffer + ocb->attr->nbytes, fill_char, BUFFER_MAX - (size_t)ocb->attr->nbytes);
		say("devctl set_fill %c", fill_char);
		break;
	case BUFFER_SWAP: {
		struct buffer_swap *s = data;
		say("devctl swap %d %d", s->a, s->b);
		int t = s->a;
		s->a = s->b;
		s->b = t;
		nbytes = sizeof(*s);
		break;
	}
	default:
		return ENOSYS;
	}
	memset(&msg->o, 0, sizeof(msg->o));
	msg->o.ret_val = 7;
	msg->o.nbytes = nbytes;
	return _RESMGR_PTR(ctp, &msg->o, sizeof(msg->o) + (size_t)nbytes);
}

static int io_msg(resmgr_context_t *ctp, io_msg_t *msg, iofunc_ocb_t *ocb)
{
	(void)ocb;
	char text[256] = {0};
	int n = ctp->size - (int)sizeof(msg->i);
	if (n < 0 || n >= (int)sizeof(text))
		return EINVAL;
	memcpy(text, (char *)msg + sizeof(msg->i), (size_t)n);
	say("msg %s", text);
	char reply[300];
	int len = snprintf(reply, sizeof(reply), "got:%s", text);
	MsgReply(ctp->rcvid, len, reply, (size_t)len + 1);
	return _RESMGR_NOREPLY;
}

static int io_unblock(resmgr_context_t *ctp, io_pulse_t *msg, iofunc_ocb_t *ocb)
{
	(void)msg;
	(void)ocb;
	say("unblock");
	MsgError(ctp->rcvid, EINTR);
	return _RESMGR_NOREPLY;
}

static int io_close_ocb(resmgr_context_t *ctp, void *reserved, iofunc_ocb_t *ocb)
{
	say("close");
	return iofunc_close_ocb_default(ctp, reserved, ocb);
}

int main(int argc, char *argv[])
{
	int pool = 0;
	int opt;
	while ((opt = getopt(argc, argv, "th")) != -1) {
		if (opt == 't')
			pool = 1;
		else if (opt == 'h')
			hang = 1;
		else
			return EXIT_FAILURE;
	}
	const char *path = optind < argc ? argv[optind] : "/dev/qnet/buffer";

	dispatch_t *dpp = dispatch_create();
	if (dpp == NULL) {
		perror("dispatch_create");
		return EXIT_FAILURE;
	}
	resmgr_attr_t rattr;
	memset(&rattr, 0, sizeof(rattr));
	rattr.nparts_max = 1;
	rattr.msg_max_size = 2048;

	static resmgr_connect_funcs_t connect_funcs;
	static resmgr_io_funcs_t io_funcs;
	iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
	connect_funcs.open = io_open;
	io_funcs.read = io_read;
	io_funcs.write = io_write;
	io_funcs.devctl = io_devctl;
	io_funcs.msg = io_msg;
	io_funcs.unblock = io_unblock;
	io_funcs.close_ocb = io_close_ocb;
	iofunc_attr_init(&attr, S_IFNAM | 0666, NULL, NULL);

	int id = resmgr_attach(dpp, &rattr, path, _FTYPE_ANY, 0, &connect_funcs, &io_funcs, &attr);
	if (id == -1) {
		perror("resmgr_attach");
		return EXIT_FAILURE;
	}
	say("attached %s id=%d", path, id);

	if (pool) {
		thread_pool_attr_t pattr;
		memset(&pattr, 0, sizeof(pattr));
		pattr.handle = dpp;
		pattr.context_alloc = dispatch_context_alloc;
		pattr.block_func = dispatch_block;
		pattr.unblock_func = dispatch_unblock;
		pattr.handler_func = dispatch_handler;
		pattr.context_free = dispatch_context_free;
		pattr.lo_water = 2;
		pattr.hi_water = 4;
		pattr.increment = 1;
		pattr.maximum = 8;
		thread_pool_t *tp = thread_pool_create(&pattr, POOL_FLAG_EXIT_SELF);
		if (tp == NULL) {
			perror("thread_pool_create");
			return EXIT_FAILURE;
		}
		thread_pool_start(tp);
		return EXIT_FAILURE; /* not reached: POOL_FLAG_EXIT_SELF */
	}

	dispatch_context_t *ctp = dispatch_context_alloc(dpp);
	for (;;) {
		if ((ctp = dispatch_block(ctp)) == NULL) {
			perror("dispatch_block");
			return EXIT_FAILURE;
		}
		dispatch_handler(ctp);
	}
}
