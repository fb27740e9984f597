/*
 * Every call of libqnetc through the C ABI, success and error cases, in one process (a
 * server thread and the main thread) plus a child process for disconnect handling.
 * Prints "PASS <what>" or "FAIL <what>: ..." per check; exits with the number of failures.
 * Run as "api_test child <pid> <chid>" it is that child: attach, send one message, exit.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <process.h>
#include <sys/dispatch.h>
#include <sys/neutrino.h>
#include <sys/netmgr.h>

static int failures;
static volatile sig_atomic_t usr2_seen;
static void on_usr2(int sig) { usr2_seen += sig == SIGUSR2; }

#define CHECK(what, cond, ...)                                     \
	do {                                                         \
		if (cond) {                                          \
			printf("PASS %s\n", what);                   \
		} else {                                             \
			failures++;                                  \
			printf("FAIL %s: ", what);                   \
			printf(__VA_ARGS__);                         \
			printf(" (errno %d %s)\n", errno, strerror(errno)); \
		}                                                    \
		fflush(stdout);                                      \
	} while (0)

/* -1 with errno e, and the _r form gives -e. */
#define CHECK_ERR(what, rv, e) CHECK(what, (rv) == -1 && errno == (e), "got %ld, want -1/%d", (long)(rv), (e))

struct msg {
	uint16_t type;
	uint16_t pad;
	int32_t n;
	char text[64];
};

static int server_chid;

struct sendarg {
	int coid;
	struct msg *m;
};
void *send_thread(void *);

static void *writer(void *p)
{
	if (write(*(int *)p, "x", 1) != 1)
		abort();
	return NULL;
}

/* The server thread: answers by message type. */
static void *server(void *arg)
{
	int chid = (int)(intptr_t)arg;
	for (;;) {
		struct msg m;
		struct _msg_info info;
		rcvid_t rcvid = MsgReceive(chid, &m, sizeof(m), &info);
		if (rcvid == -1)
			return NULL; /* channel destroyed: done */
		if (rcvid == 0)
			continue;
		switch (m.type) {
		case _IO_CONNECT:
			MsgReply(rcvid, EOK, NULL, 0);
			break;
		case 1: { /* reply status n and "pong" */
			MsgReply(rcvid, m.n, "pong", 5);
			break;
		}
		case 2: /* MsgError(n) */
			MsgError(rcvid, m.n);
			break;
		case 3: { /* iov: reply two parts */
			iov_t iov[2];
			SETIOV(&iov[0], "ab", 2);
			SETIOV(&iov[1], "cde", 3);
			MsgReplyv(rcvid, 7, iov, 2);
			break;
		}
		case 4: { /* read the rest at an offset, write at an offset, then reply */
			char rest[16] = { 0 };
			ssize_t r = MsgRead(rcvid, rest, sizeof(rest), offsetof(struct msg, text) + 2);
			struct _msg_info i2;
			MsgInfo(rcvid, &i2);
			char part1[3] = { 0 }, part2[3] = { 0 };
			iov_t riov[2];
			SETIOV(&riov[0], part1, 2);
			SETIOV(&riov[1], part2, 2);
			ssize_t rv = MsgReadv(rcvid, riov, 2, offsetof(struct msg, text));
			MsgWrite(rcvid, "XY", 2, 3);
			iov_t wiov[2];
			SETIOV(&wiov[0], "Z", 1);
			SETIOV(&wiov[1], "W", 1);
			MsgWritev(rcvid, wiov, 2, 5);
			/* past the reply buffer: nothing written, no error (QNX) */
			ssize_t past = MsgWrite(rcvid, "Q", 1, 100000);
			char reply[64];
			snprintf(reply, sizeof(reply), "%zd:%s:%zd:%s%s:%d:%zd", r, rest, rv, part1, part2,
				 i2.pid == info.pid && i2.chid == info.chid, past);
			MsgReply(rcvid, 0, NULL, 0);
			/* the reply text goes by pulse-free second message */
			rcvid = MsgReceive(chid, &m, sizeof(m), NULL);
			MsgReply(rcvid, 0, reply, strlen(reply) + 1);
			break;
		}
		case 6: /* "the right error" for a client that did not ask to unblock */
			MsgError(rcvid, -1);
			break;
		case 5: /* reply with the sender's priority */
			MsgReply(rcvid, info.priority, NULL, 0);
			break;
		case 7: /* reply with srcmsglen * 1000 + dstmsglen (filled without the channel flags) */
			MsgReply(rcvid, (long)info.srcmsglen * 1000 + (long)info.dstmsglen, NULL, 0);
			break;
		default:
			MsgError(rcvid, ENOSYS);
		}
	}
}

static void child(pid_t pid, int chid)
{
	int coid = ConnectAttach(0, pid, chid, _NTO_SIDE_CHANNEL, 0);
	if (coid == -1) {
		perror("child ConnectAttach");
		exit(2);
	}
	struct msg m = { .type = 1, .n = 5 };
	if (MsgSend(coid, &m, sizeof(m), NULL, 0) != 5)
		exit(3);
	exit(0);
}

int main(int argc, char *argv[])
{
	if (argc == 4 && strcmp(argv[1], "child") == 0)
		child((pid_t)atoi(argv[2]), atoi(argv[3]));

	/* --- channels and connections --- */
	server_chid = ChannelCreate(_NTO_CHF_NET_MSG);
	CHECK("ChannelCreate first chid is 1", server_chid == 1, "chid %d", server_chid);
	CHECK_ERR("ChannelDestroy unknown chid EINVAL", ChannelDestroy(999), EINVAL);
	CHECK("ChannelDestroy_r gives -EINVAL", ChannelDestroy_r(999) == -EINVAL, "r");
	int coid = ConnectAttach(ND_LOCAL_NODE, 0, server_chid, _NTO_SIDE_CHANNEL, 0);
	CHECK("ConnectAttach side channel bit", coid != -1 && (coid & _NTO_SIDE_CHANNEL), "coid %#x", coid);
	CHECK_ERR("ConnectAttach unknown chid ESRCH", ConnectAttach(0, getpid(), 77, _NTO_SIDE_CHANNEL, 0), ESRCH);
	CHECK("ConnectAttach_r gives -ESRCH", ConnectAttach_r(0, getpid(), 77, _NTO_SIDE_CHANNEL, 0) == -ESRCH, "r");
	int plain = ConnectAttach(0, getpid(), server_chid, 0, 0);
	CHECK("ConnectAttach without side channel has no bit", plain > 0 && !(plain & _NTO_SIDE_CHANNEL), "coid %#x", plain);

	pthread_t th;
	pthread_create(&th, NULL, server, (void *)(intptr_t)server_chid);

	/* --- send, reply, error --- */
	struct msg m = { .type = 1, .n = 42 };
	char reply[16] = { 0 };
	long st = MsgSend(coid, &m, sizeof(m), reply, sizeof(reply));
	CHECK("MsgSend returns MsgReply status", st == 42 && strcmp(reply, "pong") == 0, "st %ld reply %s", st, reply);
	m.n = -0; st = MsgSend_r(coid, &m, sizeof(m), reply, sizeof(reply));
	CHECK("MsgSend_r success", st == 0, "st %ld", st);
	/* QNX code sends and receives in one buffer. */
	struct msg same = { .type = 1, .n = 3 };
	st = MsgSend(coid, &same, sizeof(same), &same, sizeof(same));
	CHECK("MsgSend with one buffer for send and reply", st == 3 && memcmp(&same, "pong", 5) == 0, "st %ld", st);
	m.type = 2; m.n = EDOM;
	CHECK_ERR("MsgError makes MsgSend fail with that errno", MsgSend(coid, &m, sizeof(m), NULL, 0), EDOM);
	CHECK("MsgSend_r of MsgError gives -errno", MsgSend_r(coid, &m, sizeof(m), NULL, 0) == -EDOM, "r");
	m.n = EOK;
	CHECK("MsgError(EOK) makes MsgSend return 0", MsgSend(coid, &m, sizeof(m), NULL, 0) == 0, "st");
	m.type = 6;
	CHECK_ERR("MsgError(rcvid, -1) without an unblock request gives EINTR", MsgSend(coid, &m, sizeof(m), NULL, 0), EINTR);
	m.type = 7;
	char room[77];
	st = MsgSend(coid, &m, sizeof(m), room, sizeof(room));
	CHECK("srcmsglen and dstmsglen are filled without _NTO_CHF_SENDER_LEN/_REPLY_LEN (QNX 6.6+)",
	      st == (long)sizeof(m) * 1000 + 77, "st %ld", st);
	m.type = 2;
	CHECK_ERR("MsgSend on a bad coid EBADF", MsgSend(coid + 100, &m, sizeof(m), NULL, 0), EBADF);

	/* --- iov forms --- */
	m.type = 3;
	char r1[2], r2[3];
	iov_t siov[2], riov[2];
	SETIOV(&siov[0], &m, 4);
	SETIOV(&siov[1], (char *)&m + 4, sizeof(m) - 4);
	SETIOV(&riov[0], r1, 2);
	SETIOV(&riov[1], r2, 3);
	st = MsgSendv(coid, siov, 2, riov, 2);
	CHECK("MsgSendv gathers and scatters", st == 7 && memcmp(r1, "ab", 2) == 0 && memcmp(r2, "cde", 3) == 0, "st %ld", st);
	memset(r1, 0, 2); memset(r2, 0, 3);
	st = MsgSendsv(coid, &m, sizeof(m), riov, 2);
	CHECK("MsgSendsv", st == 7 && memcmp(r2, "cde", 3) == 0, "st %ld", st);
	char flat[8] = { 0 };
	st = MsgSendvs(coid, siov, 2, flat, sizeof(flat));
	CHECK("MsgSendvs", st == 7 && memcmp(flat, "abcde", 5) == 0, "st %ld", st);
	CHECK_ERR("MsgSendv bad coid EBADF", MsgSendv(12345, siov, 2, riov, 2), EBADF);

	/* --- MsgRead / MsgWrite / MsgInfo --- */
	m.type = 4;
	strcpy(m.text, "0123456789");
	char wbuf[16];
	memset(wbuf, '.', sizeof(wbuf));
	st = MsgSend(coid, &m, sizeof(m), wbuf, sizeof(wbuf));
	CHECK("MsgWrite and MsgWritev land at their offsets", st == 0 && memcmp(wbuf + 3, "XYZW", 4) == 0, "st %ld got %.4s", st, wbuf + 3);
	char text[64] = { 0 };
	m.type = 9;
	MsgSend(coid, &m, sizeof(m), text, sizeof(text));
	CHECK("MsgRead of the rest, MsgReadv, MsgInfo, a MsgWrite past the reply buffer writes 0",
	      strcmp(text, "16:23456789:4:0123:1:0") == 0, "got %s", text);
	CHECK_ERR("MsgReply of an unknown rcvid ESRCH", MsgReply(999999, 0, NULL, 0), ESRCH);
	CHECK("MsgReply_r of an unknown rcvid -ESRCH", MsgReply_r(999999, 0, NULL, 0) == -ESRCH, "r");
	CHECK_ERR("MsgError of an unknown rcvid ESRCH", MsgError(999999, EIO), ESRCH);
	char rb[4];
	CHECK_ERR("MsgRead of an unknown rcvid ESRCH", MsgRead(999999, rb, 4, 0), ESRCH);
	CHECK_ERR("MsgWrite of an unknown rcvid ESRCH", MsgWrite(999999, rb, 4, 0), ESRCH);
	struct _msg_info inf;
	CHECK_ERR("MsgInfo of an unknown rcvid ESRCH", MsgInfo(999999, &inf), ESRCH);

	/* --- pulses on a second channel --- */
	int pchid = ChannelCreate(0);
	int pcoid = ConnectAttach(0, 0, pchid, _NTO_SIDE_CHANNEL, 0);
	CHECK("MsgSendPulse", MsgSendPulse(pcoid, -1, 5, 1234) == 0, "send");
	struct _pulse pulse;
	memset(&pulse, 0xAA, sizeof(pulse));
	memset(&inf, 0x55, sizeof(inf));
	rcvid_t r = MsgReceive(pchid, &pulse, sizeof(pulse), &inf);
	CHECK("MsgReceive of a pulse returns 0 with struct _pulse", r == 0 && pulse.type == 0 && pulse.subtype == 0 && pulse.code == 5 && pulse.value.sival_int == 1234 && pulse.zero[0] == 0, "r %ld code %d value %d", (long)r, pulse.code, pulse.value.sival_int);
	CHECK("MsgReceive of a pulse leaves info alone", inf.nd == 0x55555555u && inf.pid == 0x55555555, "info changed");
	CHECK("pulse value high half is zero (sival_ptr reads the int)", (long)pulse.value.sival_ptr == 1234, "ptr %p", pulse.value.sival_ptr);
	CHECK_ERR("MsgSendPulse code out of range EINVAL", MsgSendPulse(pcoid, 10, 200, 0), EINVAL);
	CHECK("MsgSendPulse_r bad coid -EBADF", MsgSendPulse_r(pcoid + 100, 10, 1, 0) == -EBADF, "r");
	CHECK("MsgSendPulse priority 0 accepted", MsgSendPulse(pcoid, 0, 6, 7) == 0, "prio 0");
	/* A pointer in a pulse between threads of one process arrives whole. */
	static char pointee[4];
	CHECK("MsgSendPulsePtr", MsgSendPulsePtr(pcoid, 10, 8, pointee) == 0, "send");
	r = MsgReceive(pchid, &pulse, sizeof(pulse), NULL);
	CHECK("a pointer pulse to this process keeps the pointer", r == 0 && pulse.code == 8 && pulse.value.sival_ptr == (void *)pointee, "ptr %p want %p", pulse.value.sival_ptr, (void *)pointee);
	char small[8];
	r = MsgReceive(pchid, small, sizeof(small), NULL);
	CHECK("MsgReceive of a pulse into a small buffer is cut", r == 0 && small[4] == 6, "r %ld", (long)r);

	/* MsgReceivePulse takes pulses only; a message waits for MsgReceive. */
	int mcoid = ConnectAttach(0, 0, pchid, _NTO_SIDE_CHANNEL, 0);
	struct msg waiting = { .type = 1, .n = 31 };
	struct sendarg wa = { mcoid, &waiting };
	pthread_t wt;
	pthread_create(&wt, NULL, send_thread, &wa);
	usleep(100000); /* lets the message queue first (the checks hold either way) */
	MsgSendPulse(pcoid, 10, 9, 99);
	r = MsgReceivePulse(pchid, &pulse, sizeof(pulse), NULL);
	CHECK("MsgReceivePulse", r == 0 && pulse.code == 9 && pulse.value.sival_int == 99, "r %ld", (long)r);
	iov_t piov;
	SETIOV(&piov, &pulse, sizeof(pulse));
	MsgSendPulse(pcoid, 10, 10, 100);
	r = MsgReceivePulsev(pchid, &piov, 1, NULL);
	CHECK("MsgReceivePulsev", r == 0 && pulse.code == 10 && pulse.value.sival_int == 100, "r %ld", (long)r);
	struct msg got_m;
	r = MsgReceive(pchid, &got_m, sizeof(got_m), &inf);
	CHECK("the message MsgReceivePulse passed over comes to MsgReceive", r > 0 && got_m.n == 31 && inf.msglen == sizeof(got_m), "r %ld n %d", (long)r, got_m.n);
	MsgReply(r, 0, NULL, 0);
	pthread_join(wt, NULL);
	/* A TimerTimeout covers all of MsgReceivePulse, even after it passed over a message. */
	waiting.n = 32;
	pthread_create(&wt, NULL, send_thread, &wa);
	usleep(100000); /* lets the message queue first (the checks hold either way) */
	uint64_t pns = 50 * 1000000ULL;
	TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &pns, NULL);
	CHECK_ERR("MsgReceivePulse times out past a message", MsgReceivePulse(pchid, &pulse, sizeof(pulse), NULL), ETIMEDOUT);
	r = MsgReceive(pchid, &got_m, sizeof(got_m), NULL);
	CHECK("and the message is there for MsgReceive", r > 0 && got_m.n == 32, "r %ld n %d", (long)r, got_m.n);
	MsgReply(r, 0, NULL, 0);
	pthread_join(wt, NULL);

	/* --- TimerTimeout --- */
	uint64_t ns = 10 * 1000000ULL;
	TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, &ns, NULL);
	CHECK_ERR("TimerTimeout on MsgReceive ETIMEDOUT", MsgReceive(pchid, &pulse, sizeof(pulse), NULL), ETIMEDOUT);
	struct sigevent unblock;
	SIGEV_UNBLOCK_INIT(&unblock);
	CHECK("TimerTimeout_r", TimerTimeout_r(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, &unblock, NULL, NULL) == 0, "r");
	CHECK("TimerTimeout with no time fails at once", MsgReceive_r(pchid, &pulse, sizeof(pulse), NULL) == -ETIMEDOUT, "r");
	CHECK_ERR("MsgReceive on an unknown chid", MsgReceive(999, &pulse, sizeof(pulse), NULL), ESRCH);

	/* --- names --- */
	name_attach_t *att = name_attach(NULL, "capi_api_test", 0);
	CHECK("name_attach", att != NULL && att->chid > 0, "att %p", (void *)att);
	errno = 0;
	CHECK("name_attach duplicate EEXIST", name_attach(NULL, "capi_api_test", 0) == NULL && errno == EEXIST, "dup");
	errno = 0;
	CHECK("name_attach with a slash EINVAL", name_attach(NULL, "a/b", 0) == NULL && errno == EINVAL, "slash");
	CHECK_ERR("name_open unknown ENOENT", name_open("capi_no_such_name", 0), ENOENT);
	/* name_open sends _IO_CONNECT: answer it from a thread-free path by using the main
	 * server's name. */
	name_attach_t *att2 = name_attach(NULL, "capi_api_srv", 0);
	pthread_t nth;
	pthread_create(&nth, NULL, server, (void *)(intptr_t)att2->chid);
	int ncoid = name_open("capi_api_srv", 0);
	CHECK("name_open (answered _IO_CONNECT) gives a side-channel coid", ncoid != -1 && (ncoid & _NTO_SIDE_CHANNEL), "coid %#x", ncoid);
	m.type = 1; m.n = 8;
	CHECK("MsgSend over name_open's coid", MsgSend(ncoid, &m, sizeof(m), NULL, 0) == 8, "send");
	CHECK("name_close", name_close(ncoid) == 0, "close");
	CHECK("name_detach", name_detach(att, 0) == 0, "detach");
	CHECK_ERR("name_detach NULL EINVAL", name_detach(NULL, 0), EINVAL);

	/* --- netmgr --- */
	char node[64];
	int len = netmgr_ndtostr(ND2S_LOCAL_STR, ND_LOCAL_NODE, node, sizeof(node));
	CHECK("netmgr_ndtostr of node 0", len > 0 && (size_t)len == strlen(node), "len %d", len);
	char *end = NULL;
	char qualified[80];
	snprintf(qualified, sizeof(qualified), "%s/rest", node);
	CHECK("netmgr_strtond of this node is 0", netmgr_strtond(qualified, &end) == 0 && end && strcmp(end, "/rest") == 0, "end %s", end ? end : "(null)");
	CHECK_ERR("netmgr_strtond unknown ENOENT", netmgr_strtond("capi-no-such-node", NULL), ENOENT);
	char qname[96];
	snprintf(qname, sizeof(qname), "%s/capi_api_srv", node);
	ncoid = name_open(qname, 0);
	CHECK("name_open node/name of this node", ncoid != -1 && MsgSend(ncoid, &m, sizeof(m), NULL, 0) == 8, "coid %d", ncoid);
	name_close(ncoid);
	CHECK("name_detach of a served name", name_detach(att2, 0) == 0, "detach");
	pthread_join(nth, NULL);

	/* --- client info, disconnect pulse, ConnectDetach(scoid) --- */
	int dchid = ChannelCreate(_NTO_CHF_DISCONNECT);
	int own = ConnectAttach(0, 0, dchid, 0, 0); /* a plain coid that may share the scoid's number */
	char pid_s[16], chid_s[16];
	snprintf(pid_s, sizeof(pid_s), "%d", getpid());
	snprintf(chid_s, sizeof(chid_s), "%d", dchid);
	pid_t kid = spawnl(P_NOWAIT, "/proc/self/exe", argv[0], "child", pid_s, chid_s, NULL);
	CHECK("spawnl P_NOWAIT", kid > 0, "pid %d", kid);
	struct msg km;
	struct _msg_info kinfo;
	r = MsgReceive(dchid, &km, sizeof(km), &kinfo);
	CHECK("message from the child", r > 0 && kinfo.pid == kid && km.n == 5, "r %ld pid %d", (long)r, kinfo.pid);
	struct _client_info ci;
	CHECK("ConnectClientInfo", ConnectClientInfo(kinfo.scoid, &ci, 0) == 0 && ci.pid == kid && ci.cred.euid == geteuid(), "pid %d", ci.pid);
	CHECK_ERR("ConnectClientInfo unknown scoid", ConnectClientInfo(999, &ci, 0), ESRCH);
	MsgReply(r, 5, NULL, 0);
	int scoid = kinfo.scoid;
	/* the child exits: a disconnect pulse with its scoid; its own self-connection pulses
	 * (from `own`'s process, this one) do not apply. */
	r = MsgReceive(dchid, &pulse, sizeof(pulse), NULL);
	CHECK("disconnect pulse", r == 0 && pulse.code == _PULSE_CODE_DISCONNECT && pulse.scoid == scoid, "r %ld code %d scoid %d", (long)r, pulse.code, pulse.scoid);
	CHECK("ConnectClientInfo after disconnect still answers", ConnectClientInfo(scoid, &ci, 0) == 0 && ci.pid == kid, "ci");
	CHECK("ConnectDetach(scoid) after the disconnect pulse", ConnectDetach(scoid) == 0, "detach scoid %d", scoid);
	CHECK("ConnectClientInfo after ConnectDetach(scoid) fails", ConnectClientInfo(scoid, &ci, 0) == -1, "ci");
	CHECK("our own coid with that number still works", MsgSendPulse(own, 10, 1, 1) == 0, "own %d scoid %d", own, scoid);
	int status = 0;
	waitpid(kid, &status, 0);
	CHECK("child succeeded", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);

	/* --- registered events --- */
	int echid = ChannelCreate(0);
	int ecoid = ConnectAttach(0, 0, echid, _NTO_SIDE_CHANNEL, 0);
	struct sigevent ev;
	SIGEV_PULSE_INIT(&ev, ecoid, SIGEV_PULSE_PRIO_INHERIT, 11, 500);
	SIGEV_MAKE_UPDATEABLE(&ev);
	CHECK("MsgRegisterEvent", MsgRegisterEvent(&ev, coid) == 0 && (ev.sigev_notify & SIGEV_FLAG_HANDLE), "notify %#x", ev.sigev_notify);
	CHECK("SIGEV_GET_TYPE of a registered event", SIGEV_GET_TYPE(&ev) == SIGEV_PULSE, "type");
	/* the server side: a message to deliver against */
	MsgSendPulse(ecoid, 10, 1, 0); /* (consumed below) */
	r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
	m.type = 1; m.n = 0;
	/* use a pending message on our own server channel as the rcvid */
	int sc2 = ConnectAttach(0, 0, dchid, _NTO_SIDE_CHANNEL, 0);
	pthread_t sender;
	struct msg hold = { .type = 1, .n = 0 };
	struct sendarg sa = { sc2, &hold };
	pthread_create(&sender, NULL, send_thread, &sa);
	rcvid_t er;
	do {
		er = MsgReceive(dchid, &km, sizeof(km), NULL);
	} while (er == 0);
	CHECK("MsgVerifyEvent", MsgVerifyEvent(er, &ev) == 0, "verify");
	struct sigevent upd = ev;
	upd.sigev_value.sival_int = 777;
	CHECK("MsgDeliverEvent", MsgDeliverEvent(er, &upd) == 0, "deliver");
	r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
	CHECK("delivered event pulse carries the server's value (updateable)", r == 0 && pulse.code == 11 && pulse.value.sival_int == 777, "code %d value %d", pulse.code, pulse.value.sival_int);
	struct sigevent fake;
	SIGEV_PULSE_INIT(&fake, ecoid, 10, 11, 1);
	fake.sigev_notify |= SIGEV_FLAG_HANDLE;
	fake.sigev_handle = 0x7777;
	CHECK_ERR("MsgDeliverEvent of an unknown handle EACCES", MsgDeliverEvent(er, &fake), EACCES);
	CHECK("MsgUnregisterEvent", MsgUnregisterEvent(&ev) == 0, "unregister");
	CHECK_ERR("MsgDeliverEvent after unregister EACCES", MsgDeliverEvent(er, &ev), EACCES);
	MsgReply(er, 0, NULL, 0);
	pthread_join(sender, NULL);

	/* --- the older pattern: an unregistered event passed in a message --- */
	struct sigevent plainev;
	SIGEV_PULSE_INIT(&plainev, ecoid, 10, 13, 555);
	int oc = ConnectAttach(0, 0, dchid, _NTO_SIDE_CHANNEL, 0);
	struct sendarg oa = { oc, &hold };
	pthread_create(&sender, NULL, send_thread, &oa);
	do {
		er = MsgReceive(dchid, &km, sizeof(km), NULL);
	} while (er == 0);
	MsgReply(er, 0, NULL, 0); /* servers reply first and deliver later */
	pthread_join(sender, NULL);
	CHECK("MsgVerifyEvent of an unregistered pulse event", MsgVerifyEvent(er, &plainev) == 0, "verify");
	CHECK("MsgDeliverEvent of an unregistered pulse event", MsgDeliverEvent(er, &plainev) == 0, "deliver");
	r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
	CHECK("the unregistered event's pulse arrives", r == 0 && pulse.code == 13 && pulse.value.sival_int == 555, "code %d value %d", pulse.code, pulse.value.sival_int);
	CHECK_ERR("MsgDeliverEvent to an unknown rcvid ESRCH", MsgDeliverEvent(987654, &plainev), ESRCH);
	/* A signal event, delivered after the reply too (the kept rcvid names the client). */
	struct sigevent sigev;
	SIGEV_SIGNAL_INIT(&sigev, SIGUSR2);
	signal(SIGUSR2, on_usr2);
	CHECK("MsgDeliverEvent of a signal event after the reply", MsgDeliverEvent(er, &sigev) == 0, "deliver");
	for (int i = 0; i < 2000 && !usr2_seen; i++)
		usleep(10000);
	CHECK("its signal arrives", usr2_seen == 1, "seen %d", (int)usr2_seen);
	signal(SIGUSR2, SIG_DFL);
	/* A client whose connection asked _NTO_COF_REG_EVENTS gets registered events only. */
	int rc = ConnectAttach(0, 0, dchid, _NTO_SIDE_CHANNEL, _NTO_COF_REG_EVENTS);
	struct sendarg ra = { rc, &hold };
	pthread_create(&sender, NULL, send_thread, &ra);
	do {
		er = MsgReceive(dchid, &km, sizeof(km), NULL);
	} while (er == 0);
	MsgReply(er, 0, NULL, 0);
	pthread_join(sender, NULL);
	CHECK_ERR("_NTO_COF_REG_EVENTS refuses an unregistered event EACCES", MsgDeliverEvent(er, &plainev), EACCES);
	CHECK("ConnectFlags reports _NTO_COF_REG_EVENTS", ConnectFlags(0, rc, 0, 0) == _NTO_COF_REG_EVENTS, "flags");
	CHECK("ConnectFlags clears it, returning the old flags", ConnectFlags(0, rc, _NTO_COF_REG_EVENTS, 0) == _NTO_COF_REG_EVENTS, "clear");
	CHECK("then the unregistered event is delivered", MsgDeliverEvent(er, &plainev) == 0, "deliver");
	r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
	CHECK("and its pulse arrives", r == 0 && pulse.code == 13, "code %d", pulse.code);
	CHECK_ERR("ConnectFlags of a bad coid EBADF", ConnectFlags(0, 4321, 0, 0), EBADF);

	/* --- pulse timers and glibc timers --- */
	struct sigevent tev;
	SIGEV_PULSE_INIT(&tev, ecoid, SIGEV_PULSE_PRIO_INHERIT, 12, 4321);
	timer_t tid;
	CHECK("timer_create SIGEV_PULSE", timer_create(CLOCK_MONOTONIC, &tev, &tid) == 0, "create");
	struct itimerspec its = { .it_value = { 0, 5000000 }, .it_interval = { 0, 5000000 } };
	CHECK("timer_settime", timer_settime(tid, 0, &its, NULL) == 0, "settime");
	int got = 0;
	for (int i = 0; i < 3; i++) {
		r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
		if (r == 0 && pulse.code == 12 && pulse.value.sival_int == 4321)
			got++;
	}
	CHECK("timer pulses arrive", got == 3, "got %d", got);
	struct itimerspec cur;
	CHECK("timer_gettime", timer_gettime(tid, &cur) == 0 && cur.it_interval.tv_nsec == 5000000, "gettime");
	CHECK("timer_delete", timer_delete(tid) == 0, "delete");
	timer_t ptid;
	SIGEV_PULSE_INIT(&tev, ecoid, SIGEV_PULSE_PRIO_INHERIT, 14, pointee);
	its.it_interval.tv_nsec = 0;
	CHECK("a one-shot timer with a pointer value", timer_create(CLOCK_REALTIME, &tev, &ptid) == 0 && timer_settime(ptid, 0, &its, NULL) == 0, "create");
	do {
		r = MsgReceive(echid, &pulse, sizeof(pulse), NULL);
	} while (r == 0 && pulse.code == 12);
	CHECK("its pulse carries the pointer", r == 0 && pulse.code == 14 && pulse.value.sival_ptr == (void *)pointee, "code %d ptr %p", pulse.code, pulse.value.sival_ptr);
	timer_delete(ptid);
	struct sigevent none = { 0 };
	none.sigev_notify = SIGEV_NONE;
	timer_t gt;
	CHECK("timer_create SIGEV_NONE goes to glibc", timer_create(CLOCK_MONOTONIC, &none, &gt) == 0, "glibc");
	its.it_value.tv_sec = 100;
	CHECK("glibc timer_settime/gettime", timer_settime(gt, 0, &its, NULL) == 0 && timer_gettime(gt, &cur) == 0 && cur.it_value.tv_sec >= 90, "glibc");
	CHECK("glibc timer_delete", timer_delete(gt) == 0, "glibc delete");

	/* --- QNX libc extras --- */
	char sb[6];
	CHECK("strlcpy", strlcpy(sb, "hello world", sizeof(sb)) == 11 && strcmp(sb, "hello") == 0, "%s", sb);
	char ib[40];
	CHECK("itoa", strcmp(itoa(-255, ib, 10), "-255") == 0 && strcmp(itoa(255, ib, 16), "ff") == 0, "%s", ib);

	/* --- QNX extras: getprio/setprio, delay, pthread_create with a NULL id --- */
	CHECK("getprio is 10 by default", getprio(0) == 10, "prio %d", getprio(0));
	{
		/* (glibc caches what this reads) */
		struct sched_param gp0;
		int gpol0;
		pthread_getschedparam(pthread_self(), &gpol0, &gp0);
	}
	CHECK("setprio returns the old priority", setprio(0, 20) == 10, "setprio");
	{
		/* The OS scheduling follows (real-time where permitted: root in CI). */
		struct sched_param sp = { 0 };
		int pol = sched_getscheduler(0);
		sched_getparam(0, &sp);
		CHECK("setprio schedules the thread (root: SCHED_RR 20)",
		      geteuid() != 0 || (pol == SCHED_RR && sp.sched_priority == 20), "policy %d prio %d", pol,
		      sp.sched_priority);
		struct sched_param gp = { 0 };
		int gpol = -1;
		CHECK("pthread_getschedparam sees it too",
		      pthread_getschedparam(pthread_self(), &gpol, &gp) == 0 && gpol == pol &&
			      gp.sched_priority == sp.sched_priority,
		      "policy %d prio %d", gpol, gp.sched_priority);
	}
	m.type = 5;
	CHECK("messages carry setprio's priority", MsgSend(coid, &m, sizeof(m), NULL, 0) == 20, "prio");
	setprio(0, 10);
	{
		/* pthread_setschedparam: the thread's messages carry its new priority, as on QNX. */
		struct sched_param sp = { .sched_priority = 40 };
		if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0) {
			CHECK("pthread_setschedparam(SCHED_FIFO, 40) is getprio's", getprio(0) == 40, "prio %d", getprio(0));
			m.type = 5;
			CHECK("and the messages carry it", MsgSend(coid, &m, sizeof(m), NULL, 0) == 40, "prio");
		}
		sp.sched_priority = 0;
		CHECK("pthread_setschedparam(SCHED_OTHER, 0) carries QNX's default 10",
		      pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp) == 0 && getprio(0) == 10, "prio %d", getprio(0));
		sp.sched_priority = 15;
		CHECK("QNX's SCHED_OTHER with a priority is taken (as SCHED_RR)",
		      pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp) == 0 && getprio(0) == 15, "prio %d", getprio(0));
		setprio(0, 10);
	}
	CHECK("delay", delay(1) == 0, "delay");
	int fds[2];
	if (pipe(fds) != 0)
		return 99;
	/* QNX code passes a literal NULL (glibc's header makes that a -Wnonnull warning). */
	pthread_t *volatile no_id = NULL;
	CHECK("pthread_create with a NULL thread id", pthread_create(no_id, NULL, writer, &fds[1]) == 0, "create");
	char one = 0;
	CHECK("the thread ran", read(fds[0], &one, 1) == 1 && one == 'x', "read");

	/* --- ConnectDetach --- */
	CHECK("ConnectDetach", ConnectDetach(coid) == 0, "detach");
	CHECK_ERR("ConnectDetach twice is EINVAL", ConnectDetach(coid), EINVAL);
	CHECK_ERR("ConnectDetach of a coid never attached is EINVAL", ConnectDetach(_NTO_SIDE_CHANNEL | 4242), EINVAL);
	CHECK("ConnectDetach_r of a coid never attached is -EINVAL", ConnectDetach_r(4242) == -EINVAL, "_r");
	CHECK("ChannelDestroy", ChannelDestroy(server_chid) == 0, "destroy");
	pthread_join(th, NULL);

	printf("failures=%d\n", failures);
	return failures;
}

void *send_thread(void *p)
{
	struct sendarg *a = p;
	MsgSend(a->coid, a->m, sizeof(*a->m), NULL, 0);
	return NULL;
}
