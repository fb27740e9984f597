/* Signals unblock calls to another node's server, as on QNX.
 *   signal_remote server                 prints "pid=P chid=C uchid=U", then serves
 *   signal_remote client NODE PID CHID UCHID
 * The client's MsgSend on a plain channel ends with EINTR at SIGUSR1 (the server's late
 * reply gets ESRCH); on an _NTO_CHF_UNBLOCK channel, at SIGUSR2 (SA_RESTART), the server
 * gets its unblock pulse and the client the server's answer. Last, an unregistered pulse
 * event from the client is refused (ENOTSUP) by MsgVerifyEvent and MsgDeliverEvent alike.
 * The test sends the signals to the client process once the server printed that it holds
 * the message; only the sending thread takes them. Prints PASS/FAIL lines and
 * "failures=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/netmgr.h>
#include <sys/neutrino.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, what)                                                     \
    do {                                                                      \
        if (cond) {                                                           \
            printf("PASS %s\n", what);                                        \
        } else {                                                              \
            printf("FAIL %s (errno %s)\n", what, strerror(errno));            \
            failures++;                                                       \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

static void on_signal(int sig) { (void)sig; }

struct call {
    int coid;
    int ret, err;
    char buf[16];
};

static void *sender(void *arg) {
    struct call *c = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    c->ret = MsgSend(c->coid, "hold", 5, c->buf, sizeof c->buf);
    c->err = errno;
    return NULL;
}


static int server(void) {
    int chid = ChannelCreate(0), uchid = ChannelCreate(_NTO_CHF_UNBLOCK);
    printf("pid=%d chid=%d uchid=%d\n", getpid(), chid, uchid);
    fflush(stdout);
    char buf[64];
    /* Plain channel: hold the message; the next one comes only after its sender's EINTR. */
    int held = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(held > 0 && !strcmp(buf, "hold"), "server: held a remote message");
    int next = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(next > 0 && !strcmp(buf, "again"), "server: the client's next message");
    errno = 0;
    CHECK(MsgReply(held, 0, "late", 5) == -1 && errno == ESRCH,
          "server: a reply to the interrupted remote client gets ESRCH");
    MsgReply(next, 0, NULL, 0);
    /* Unblock channel: the message, the pulse, then the answer. */
    held = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(held > 0 && !strcmp(buf, "hold"), "server: held a remote message on the unblock channel");
    struct _pulse *p = (struct _pulse *)buf;
    int r = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(r == 0 && p->code == _PULSE_CODE_UNBLOCK && p->value.sival_int == held,
          "server: the remote client's signal is an unblock pulse");
    CHECK(MsgReply(held, 7, "late", 5) == 0, "server: answers the unblock");
    /* An unregistered pulse event from a client on another node: verify and delivery agree
     * (ENOTSUP; register the event instead). */
    struct sigevent ev;
    r = MsgReceive(chid, &ev, sizeof ev, NULL);
    errno = 0;
    CHECK(r > 0 && MsgVerifyEvent(r, &ev) == -1 && errno == ENOTSUP,
          "server: MsgVerifyEvent of a remote client's unregistered event ENOTSUP");
    errno = 0;
    CHECK(MsgDeliverEvent(r, &ev) == -1 && errno == ENOTSUP,
          "server: and MsgDeliverEvent of it ENOTSUP");
    MsgReply(r, 0, NULL, 0);
    printf("failures=%d\n", failures);
    return failures != 0;
}

static int client(const char *node, int pid, int chid, int uchid) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, on_signal); /* SA_RESTART */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int nd = netmgr_strtond(node, NULL);
    int coid = ConnectAttach(nd, pid, chid, _NTO_SIDE_CHANNEL, 0);
    int ucoid = ConnectAttach(nd, pid, uchid, _NTO_SIDE_CHANNEL, 0);
    CHECK(coid != -1 && ucoid != -1, "client: connected to the other node");

    struct call c = {.coid = coid};
    pthread_t t;
    pthread_create(&t, NULL, sender, &c);
    pthread_join(t, NULL);
    CHECK(c.ret == -1 && c.err == EINTR,
          "client: a signal ends a remote MsgSend with EINTR");
    char rep[16];
    CHECK(MsgSend(coid, "again", 6, rep, sizeof rep) == 0, "client: the connection still works after it");

    struct call u = {.coid = ucoid};
    pthread_create(&t, NULL, sender, &u);
    pthread_join(t, NULL);
    CHECK(u.ret == 7 && !strcmp(u.buf, "late"),
          "client: on an unblock channel it takes the server's answer");
    int own = ChannelCreate(0);
    struct sigevent ev;
    SIGEV_PULSE_INIT(&ev, ConnectAttach(0, 0, own, _NTO_SIDE_CHANNEL, 0), 10, 5, 55);
    CHECK(MsgSend(coid, &ev, sizeof ev, rep, sizeof rep) == 0, "client: sent its event");
    printf("failures=%d\n", failures);
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "server"))
        return server();
    if (argc == 6 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: signal_remote server | client NODE PID CHID UCHID\n");
    return 2;
}
