/* Signals unblock blocked kernel calls, as on QNX: a thread in MsgSend or MsgReceive whose
 * signal handler runs gets -1/EINTR, whether the handler was installed with SA_RESTART
 * (glibc's signal()) or without; REPLY-blocked on an _NTO_CHF_UNBLOCK channel the server
 * gets its unblock pulse and the client waits for its answer; a signal without a handler
 * (ignored) unblocks nothing. The server is the parent, the clients a forked child (so that
 * calls between them take the direct local path where the daemon offers it). Prints
 * PASS/FAIL lines and "failures=N". */
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
static volatile sig_atomic_t handled;

static void on_signal(int sig) {
    (void)sig;
    handled++;
}

static volatile sig_atomic_t info_signo;
static volatile pid_t info_pid;
static void on_info(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    info_signo = sig == info->si_signo ? sig : -1;
    info_pid = info->si_pid;
}

/* SIGUSR1: a handler without SA_RESTART; SIGUSR2: glibc's signal(), which sets SA_RESTART. */
static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, on_signal);
}

/* A blocking call in a thread: what it returned and its errno. */
struct call {
    int coid, chid;
    int ret, err;
    char buf[64];
    volatile int done;
};

static void *sender(void *arg) {
    struct call *c = arg;
    c->ret = MsgSend(c->coid, "hold", 5, c->buf, sizeof c->buf);
    c->err = errno;
    c->done = 1;
    return NULL;
}

static void *receiver(void *arg) {
    struct call *c = arg;
    c->ret = MsgReceive(c->chid, c->buf, sizeof c->buf, NULL);
    c->err = errno;
    c->done = 1;
    return NULL;
}

/* Join `t` within `secs` seconds: 0 if it ended, -1 if not (the hang this test is about). */
static int joined(pthread_t t, int secs) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += secs;
    return pthread_timedjoin_np(t, NULL, &dl) == 0 ? 0 : -1;
}

/* Pipes that order the two processes: the server says when a state is reached ("go"), the
 * clients when they have checked it ("back"). */
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
    install();
    int coid = ConnectAttach(0, server_pid, chid, _NTO_SIDE_CHANNEL, 0);
    int ucoid = ConnectAttach(0, server_pid, uchid, _NTO_SIDE_CHANNEL, 0);
    char rep[8];
    CHECK(MsgSend(coid, "warm", 5, rep, sizeof rep) == 0, "client: first call answered");
    CHECK(MsgSend(ucoid, "warm", 5, rep, sizeof rep) == 0, "client: first call on the unblock channel answered");
    /* Both channels are served on the direct path now (where offered): see cancel_test.c. */
    usleep(100000);

    /* REPLY-blocked on a plain channel, a handler without SA_RESTART: EINTR at once. */
    struct call c = {.coid = coid};
    pthread_t t;
    pthread_create(&t, NULL, sender, &c);
    wait_for(go[0], 'a');
    handled = 0;
    pthread_kill(t, SIGUSR1);
    CHECK(joined(t, 20) == 0 && c.ret == -1 && c.err == EINTR,
          "client: a signal ends a REPLY-blocked MsgSend with EINTR");
    CHECK(handled == 1, "client: and its handler ran once");
    say(back[1], 'b');
    CHECK(MsgSend(coid, "again", 6, rep, sizeof rep) == 0, "client: the connection still works after it");

    /* REPLY-blocked on an _NTO_CHF_UNBLOCK channel, a handler with SA_RESTART: the server
     * gets the pulse, the client waits for its answer. */
    struct call u = {.coid = ucoid};
    wait_for(go[0], 'c');
    pthread_create(&t, NULL, sender, &u);
    wait_for(go[0], 'd'); /* the server has received it */
    pthread_kill(t, SIGUSR2);
    wait_for(go[0], 'e'); /* the server has its pulse */
    CHECK(!u.done, "client: REPLY-blocked on an unblock channel, it waits for the server");
    /* It waits asleep: half a second costs it next to no CPU (a spinning wait costs most
     * of it, even on a busy machine). */
    clockid_t cpu;
    struct timespec c0, c1;
    pthread_getcpuclockid(t, &cpu);
    clock_gettime(cpu, &c0);
    usleep(500000);
    clock_gettime(cpu, &c1);
    long used_ms = (c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
    printf("waiting thread used %ld ms of CPU in 500 ms\n", used_ms);
    CHECK(used_ms < 100, "client: and it waits asleep, not spinning");
    say(back[1], 'f');
    CHECK(joined(t, 20) == 0 && u.ret == 7 && !strcmp(u.buf, "late"),
          "client: and takes the server's answer (SA_RESTART or not)");

    /* Again, and the server answers with MsgError(rcvid, -1), "the right error": EINTR,
     * as the signal asked. */
    struct call u2 = {.coid = ucoid};
    wait_for(go[0], 'k');
    pthread_create(&t, NULL, sender, &u2);
    wait_for(go[0], 'l'); /* the server has received it */
    pthread_kill(t, SIGUSR1);
    CHECK(joined(t, 20) == 0 && u2.ret == -1 && u2.err == EINTR,
          "client: MsgError(rcvid, -1) after a signal's unblock pulse gives EINTR");
    say(back[1], 'm');

    /* SEND-blocked (nobody receives on uchid now), SA_RESTART: EINTR, message withdrawn. */
    struct call s = {.coid = ucoid};
    pthread_create(&t, NULL, sender, &s);
    usleep(300000);
    pthread_kill(t, SIGUSR2);
    CHECK(joined(t, 20) == 0 && s.ret == -1 && s.err == EINTR,
          "client: a signal ends a SEND-blocked MsgSend with EINTR");
    say(back[1], 'g');

    /* alarm() as a timeout, in the main thread (once the server has looked for the
     * withdrawn message). */
    wait_for(go[0], 'h');
    signal(SIGALRM, on_signal);
    alarm(1);
    errno = 0;
    int r = MsgSend(ucoid, "alarm", 6, rep, sizeof rep);
    CHECK(r == -1 && errno == EINTR, "client: alarm() ends a blocked MsgSend with EINTR");
    say(back[1], 'i');
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
    install();

    /* libqnetc wraps handlers; the program still sees its own. */
    struct sigaction old;
    CHECK(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == on_signal &&
              !(old.sa_flags & (SA_SIGINFO | SA_RESTART)),
          "server: sigaction shows the program's handler and flags");
    CHECK(sigaction(SIGUSR2, NULL, &old) == 0 && old.sa_handler == on_signal &&
              (old.sa_flags & SA_RESTART) && !(old.sa_flags & SA_SIGINFO),
          "server: signal() installed it with SA_RESTART");
    CHECK(signal(SIGUSR2, on_signal) == on_signal, "server: signal() returns the previous handler");
    struct sigaction si;
    memset(&si, 0, sizeof si);
    si.sa_sigaction = on_info;
    si.sa_flags = SA_SIGINFO;
    sigaction(SIGWINCH, &si, NULL);
    raise(SIGWINCH);
    CHECK(info_signo == SIGWINCH && info_pid == getpid(), "server: an SA_SIGINFO handler gets its siginfo");
    signal(SIGWINCH, SIG_DFL);
    CHECK(sigaction(SIGWINCH, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "server: SIG_DFL is itself");

    char buf[64];
    struct _pulse *pulse = (struct _pulse *)buf;
    int rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "warm"), "server: first message");
    MsgReply(rcvid, 0, NULL, 0);
    rcvid = MsgReceive(uchid, buf, sizeof buf, NULL);
    MsgReply(rcvid, 0, NULL, 0);

    /* The plain channel's held message: its client is interrupted; the reply finds it gone. */
    rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "hold"), "server: the message that will be held");
    say(go[1], 'a');
    wait_for(back[0], 'b');
    errno = 0;
    CHECK(MsgReply(rcvid, 0, "late", 5) == -1 && errno == ESRCH,
          "server: a reply to the interrupted client gets ESRCH");
    rcvid = MsgReceive(chid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "again"), "server: the client's next message");
    MsgReply(rcvid, 0, NULL, 0);

    /* Receivers: a handler ends MsgReceive with EINTR, with SA_RESTART or without. */
    int sigs[2] = {SIGUSR1, SIGUSR2};
    for (int i = 0; i < 2; i++) {
        struct call rc = {.chid = chid};
        pthread_t t;
        pthread_create(&t, NULL, receiver, &rc);
        usleep(300000);
        pthread_kill(t, sigs[i]);
        CHECK(joined(t, 20) == 0 && rc.ret == -1 && rc.err == EINTR,
              i == 0 ? "server: a signal ends MsgReceive with EINTR"
                     : "server: a signal with SA_RESTART ends MsgReceive with EINTR too");
    }
    /* A signal nobody handles (SIGURG is ignored by default) unblocks nothing. */
    struct call ig = {.chid = uchid};
    pthread_t it;
    pthread_create(&it, NULL, receiver, &ig);
    usleep(300000);
    pthread_kill(it, SIGURG);
    usleep(300000);
    CHECK(!ig.done, "server: an ignored signal leaves MsgReceive blocked");

    /* The unblock channel: the held message goes to `it`, then the pulse, then the answer. */
    say(go[1], 'c');
    CHECK(joined(it, 20) == 0 && ig.ret > 0 && !strcmp(ig.buf, "hold"),
          "server: the ignoring receiver takes the held message");
    rcvid = ig.ret;
    say(go[1], 'd');
    int p = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(p == 0 && pulse->code == _PULSE_CODE_UNBLOCK && pulse->value.sival_int == rcvid,
          "server: a signal to a REPLY-blocked client is an unblock pulse");
    struct _msg_info info;
    CHECK(MsgInfo(rcvid, &info) == 0 && (info.flags & _NTO_MI_UNBLOCK_REQ),
          "server: MsgInfo shows the unblock request");
    say(go[1], 'e');
    wait_for(back[0], 'f');
    CHECK(MsgReply(rcvid, 7, "late", 5) == 0, "server: answers the unblock");

    say(go[1], 'k');
    rcvid = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(rcvid > 0 && !strcmp(buf, "hold"), "server: a second held message on the unblock channel");
    say(go[1], 'l');
    p = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(p == 0 && pulse->code == _PULSE_CODE_UNBLOCK && pulse->value.sival_int == rcvid,
          "server: its unblock pulse");
    CHECK(MsgError(rcvid, -1) == 0, "server: answers it with MsgError(rcvid, -1)");
    wait_for(back[0], 'm');

    /* The SEND-blocked client's message was withdrawn with its signal. */
    wait_for(back[0], 'g');
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, NULL, NULL);
    errno = 0;
    p = MsgReceive(uchid, buf, sizeof buf, NULL);
    if (p == 0)
        printf("got a pulse, code %d value %d\n", pulse->code, pulse->value.sival_int);
    else if (p > 0)
        printf("got a message \"%.8s\"\n", buf);
    CHECK(p == -1 && errno == ETIMEDOUT, "server: an interrupted SEND-blocked message is withdrawn");
    say(go[1], 'h');

    wait_for(back[0], 'i');
    TimerTimeout(CLOCK_MONOTONIC, _NTO_TIMEOUT_RECEIVE, NULL, NULL, NULL);
    errno = 0;
    p = MsgReceive(uchid, buf, sizeof buf, NULL);
    CHECK(p == -1 && errno == ETIMEDOUT, "server: so is the one alarm() interrupted");

    int st = 0;
    waitpid(child, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clients all passed");
    printf("failures=%d\n", failures);
    return failures != 0;
}
