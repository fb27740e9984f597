/* pthread_cancel of threads blocked in MsgSend / MsgReceive: QNX makes both cancellation
 * points. The server is the parent, the clients a forked child (so that calls between them
 * take the direct local path where the daemon offers it). Prints PASS/FAIL lines and
 * "failures=N". */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/wait.h>
#include <time.h>
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

static int chid, uchid;
static pid_t server_pid;

/* Join `t` within `secs` seconds: 1 if it ended cancelled, 0 if it ended otherwise, -1 if
 * it did not end (the hang this test is about). */
static int joined_cancelled(pthread_t t, int secs) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += secs;
    void *res = NULL;
    if (pthread_timedjoin_np(t, &res, &dl) != 0)
        return -1;
    return res == PTHREAD_CANCELED;
}

static int still_running(pthread_t t) {
    return pthread_tryjoin_np(t, NULL) == EBUSY;
}

static void *receiver(void *arg) {
    (void)arg;
    char buf[64];
    for (;;) {
        int rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
        if (rcvid > 0)
            MsgReply(rcvid, 0, "r", 2);
    }
    return NULL;
}

static int coid, ucoid;

static void *sender(void *arg) {
    char rep[8];
    MsgSend(*(int *)arg, "hold", 5, rep, sizeof rep);
    return NULL;
}

static void *uncancellable_receiver(void *arg) {
    (void)arg;
    int old;
    char buf[64];
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    int rcvid = MsgReceive(uchid, buf, sizeof buf, NULL);
    /* Cancelled meanwhile, yet it waited for and took the message. */
    printf("%s uncancellable receiver took its message after a cancel\n",
           rcvid > 0 && !strcmp(buf, "late") ? "PASS" : "FAIL");
    fflush(stdout);
    if (rcvid > 0)
        MsgReply(rcvid, 0, NULL, 0);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();
    return NULL;
}

/* Pipes that order the two processes: the server says when a state is reached ("go"),
 * the clients when they have checked it ("back"). */
static int go[2], back[2];
static void wait_for(int fd, char want) {
    char c = 0;
    while (read(fd, &c, 1) == 1 && c != want) {
    }
}
static void say(int fd, char c) {
    if (write(fd, &c, 1) != 1)
        abort();
}

/* The clients (a child process). */
static void clients(void) {
    coid = ConnectAttach(0, server_pid, chid, _NTO_SIDE_CHANNEL, 0);
    ucoid = ConnectAttach(0, server_pid, uchid, _NTO_SIDE_CHANNEL, 0);
    char rep[8];
    CHECK(MsgSend(coid, "warm", 5, rep, sizeof rep) == 0, "client: first call answered");
    CHECK(MsgSend(ucoid, "warm", 5, rep, sizeof rep) == 0, "client: first call on the unblock channel answered");
    /* Both channels are served on the direct path now (their server has received): a send
     * that found one not yet served took the daemon's path and the library asks again
     * 10 ms later, so every send below takes the direct path where the daemon offers it. */
    usleep(100000);

    /* REPLY-blocked on a plain channel: cancelled at once. */
    pthread_t t;
    pthread_create(&t, NULL, sender, &coid);
    wait_for(go[0], 'a');
    pthread_cancel(t);
    CHECK(joined_cancelled(t, 20) == 1, "client: a REPLY-blocked MsgSend is a cancellation point");
    CHECK(MsgSend(coid, "again", 6, rep, sizeof rep) == 0, "client: the connection still works after the cancel");
    iov_t iov;
    SETIOV(&iov, rep, sizeof rep);
    CHECK(MsgSendsvnc(coid, "again", 6, &iov, 1) == 0 && MsgSendvsnc(coid, &iov, 1, rep, sizeof rep) == 0,
          "client: MsgSendsvnc and MsgSendvsnc (no cancellation points) answered");
    say(back[1], 'b');

    /* REPLY-blocked on an _NTO_CHF_UNBLOCK channel: the server decides; the thread ends once
     * it answered. */
    pthread_create(&t, NULL, sender, &ucoid);
    wait_for(go[0], 'c');
    pthread_cancel(t);
    usleep(300000);
    CHECK(still_running(t), "client: REPLY-blocked on an unblock channel, it waits for the server");
    say(back[1], 'd');
    CHECK(joined_cancelled(t, 20) == 1, "client: and ends cancelled once the server answered");

    /* SEND-blocked (nobody receives on uchid now): cancelled, its message withdrawn. */
    pthread_create(&t, NULL, sender, &ucoid);
    usleep(300000);
    pthread_cancel(t);
    CHECK(joined_cancelled(t, 20) == 1, "client: a SEND-blocked MsgSend is a cancellation point");
    say(back[1], 'e');

    /* The server's uncancellable receiver needs a message now. */
    wait_for(go[0], 'f');
    CHECK(MsgSend(ucoid, "late", 5, rep, sizeof rep) == 0, "client: the uncancellable receiver answered");
    exit(failures != 0);
}

int main(void) {
    chid = ChannelCreate(0);
    uchid = ChannelCreate(_NTO_CHF_UNBLOCK);
    server_pid = getpid();
    if (pipe(go) != 0 || pipe(back) != 0)
        return 2;
    pid_t child = fork();
    if (child == 0)
        clients();

    char buf[64];
    struct _pulse *pulse = (struct _pulse *)buf;
    int rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "warm"), "server: first message");
    MsgReply(rcvid, 0, NULL, 0);
    rcvid = MsgReceive(uchid, buf, sizeof buf, NULL);
    MsgReply(rcvid, 0, NULL, 0);

    /* The plain channel's held message: its client is cancelled; the reply finds it gone. */
    rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "hold"), "server: the message that will be held");
    pthread_t r1, r2;
    pthread_create(&r1, NULL, receiver, NULL);
    pthread_create(&r2, NULL, receiver, NULL);
    say(go[1], 'a');
    wait_for(back[0], 'b');
    errno = 0;
    CHECK(MsgReply(rcvid, 0, "late", 5) == -1 && errno == ESRCH, "server: a reply to the cancelled client gets ESRCH");

    /* Cancel one of the two receivers (asleep by now or soon); the other still serves. */
    usleep(200000);
    pthread_cancel(r1);
    CHECK(joined_cancelled(r1, 20) == 1, "server: a MsgReceive is a cancellation point");

    /* The unblock channel: a held message, the unblock pulse, then the answer. */
    rcvid = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "hold"), "server: the held message on the unblock channel");
    say(go[1], 'c');
    int p = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(p == 0 && pulse->code == _PULSE_CODE_UNBLOCK && pulse->value.sival_int == rcvid,
          "server: the cancel of a REPLY-blocked client is an unblock pulse");
    wait_for(back[0], 'd');
    CHECK(MsgError(rcvid, EINTR) == 0, "server: answers the unblock");

    /* The SEND-blocked client's message was withdrawn with its cancel. */
    wait_for(back[0], 'e');
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, NULL, NULL);
    errno = 0;
    p = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(p == -1 && errno == ETIMEDOUT, "server: a cancelled SEND-blocked message is withdrawn");

    pthread_t u;
    pthread_create(&u, NULL, uncancellable_receiver, NULL);
    usleep(300000);
    pthread_cancel(u);
    say(go[1], 'f');
    int st = 0;
    waitpid(child, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clients all passed");
    CHECK(joined_cancelled(u, 20) == 1, "server: the uncancellable receiver ends at its own cancellation point");
    pthread_cancel(r2);
    CHECK(joined_cancelled(r2, 20) == 1, "server: the other receiver too");
    printf("failures=%d\n", failures);
    return failures != 0;
}
