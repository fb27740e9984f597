/* A thread-pool resource manager whose io_read is still running when its client dies: the
 * client's disconnect pulse is handled on another pool thread, and the OCB the read uses
 * must not be freed under it (QNX's library never does). The read waits until the
 * program's own disconnect handler has run, then looks at its OCB; the OCB is freed only
 * after. Prints "read held", "disconnect", "read done magic=ok|bad", "ocb_free", and then
 * serves further readers ("serial N" per open). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct my_ocb;
#define IOFUNC_OCB_T struct my_ocb
#include <sys/dispatch.h>
#include <sys/iofunc.h>

#define MAGIC 0x5eed0cb

struct my_ocb {
    iofunc_ocb_t hdr; /* first, as QNX requires */
    int magic;
    int serial;
};

static int serials;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int disconnected;

static void say(const char *fmt, int v) {
    printf(fmt, v);
    printf("\n");
    fflush(stdout);
}

static IOFUNC_OCB_T *ocb_calloc(resmgr_context_t *ctp, IOFUNC_ATTR_T *attr) {
    (void)ctp;
    (void)attr;
    struct my_ocb *o = calloc(1, sizeof *o);
    if (o) {
        o->magic = MAGIC;
        o->serial = __sync_add_and_fetch(&serials, 1);
    }
    return o;
}

static void ocb_free(IOFUNC_OCB_T *o) {
    say("ocb_free serial=%d", o->serial);
    o->magic = 0;
    free(o);
}

static iofunc_funcs_t ocb_funcs = {_IOFUNC_NFUNCS, ocb_calloc, ocb_free};
static iofunc_mount_t mountpoint = {.funcs = &ocb_funcs};

static int on_disconnect(message_context_t *ctp, int code, unsigned flags, void *handle) {
    (void)ctp;
    (void)code;
    (void)flags;
    (void)handle;
    pthread_mutex_lock(&mu);
    disconnected++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    say("disconnect %d", disconnected);
    return 0;
}

static int io_read(resmgr_context_t *ctp, io_read_t *msg, RESMGR_OCB_T *ocb) {
    int status = iofunc_read_verify(ctp, msg, &ocb->hdr, NULL);
    if (status != EOK)
        return status;
    char out[32];
    int len = snprintf(out, sizeof out, "serial %d\n", ocb->serial);
    if (ocb->serial == 1) {
        /* The first reader is killed meanwhile: wait for its disconnect (bounded). */
        say("read held %d", ocb->serial);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 30;
        pthread_mutex_lock(&mu);
        while (!disconnected && pthread_cond_timedwait(&cv, &mu, &dl) == 0) {
        }
        pthread_mutex_unlock(&mu);
        /* Give the disconnect's close (if it were run) time to free the OCB first. */
        usleep(200000);
        printf("read done magic=%s\n", ocb->magic == MAGIC ? "ok" : "bad");
        fflush(stdout);
    }
    if (ocb->hdr.offset >= len) {
        _IO_SET_READ_NBYTES(ctp, 0);
        return _RESMGR_NPARTS(0);
    }
    int n = (int)_IO_READ_GET_NBYTES(msg) < len - (int)ocb->hdr.offset ? (int)_IO_READ_GET_NBYTES(msg)
                                                              : len - (int)ocb->hdr.offset;
    _IO_SET_READ_NBYTES(ctp, n);
    ocb->hdr.offset += n;
    MsgReply(ctp->rcvid, n, out + ocb->hdr.offset - n, n);
    return _RESMGR_NOREPLY;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/dev/qnet/pool";
    static resmgr_connect_funcs_t cf;
    static resmgr_io_funcs_t iof;
    static iofunc_attr_t attr;
    dispatch_t *dpp = dispatch_create();
    resmgr_attr_t rattr;
    memset(&rattr, 0, sizeof rattr);
    rattr.nparts_max = 1;
    rattr.msg_max_size = 2048;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cf, _RESMGR_IO_NFUNCS, &iof);
    iof.read = io_read;
    iofunc_attr_init(&attr, S_IFNAM | 0666, 0, 0);
    attr.mount = &mountpoint;
    if (resmgr_attach(dpp, &rattr, path, _FTYPE_ANY, 0, &cf, &iof, &attr) == -1) {
        perror("resmgr_attach");
        return 1;
    }
    if (pulse_attach(dpp, 0, _PULSE_CODE_DISCONNECT, on_disconnect, NULL) == -1) {
        perror("pulse_attach");
        return 1;
    }
    thread_pool_attr_t pa;
    memset(&pa, 0, sizeof pa);
    pa.handle = dpp;
    pa.context_alloc = dispatch_context_alloc;
    pa.block_func = dispatch_block;
    pa.unblock_func = dispatch_unblock;
    pa.handler_func = dispatch_handler;
    pa.context_free = dispatch_context_free;
    pa.lo_water = 2;
    pa.hi_water = 4;
    pa.increment = 1;
    pa.maximum = 8;
    thread_pool_t *tpp = thread_pool_create(&pa, POOL_FLAG_EXIT_SELF);
    if (!tpp) {
        perror("thread_pool_create");
        return 1;
    }
    printf("attached %s\n", path);
    fflush(stdout);
    thread_pool_start(tpp);
    return 0;
}
