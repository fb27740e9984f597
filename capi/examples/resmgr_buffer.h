/* What resmgr_server and resmgr_client agree on: the device's size and its devctl commands. */
#ifndef RESMGR_BUFFER_H
#define RESMGR_BUFFER_H

#include <devctl.h>

#define BUFFER_MAX 4096

struct buffer_swap {
	int a;
	int b;
};

/* How many writes the device has taken (from the device). */
#define BUFFER_GET_WRITES __DIOF(_DCMD_MISC, 0x10, int)
/* The byte that fills the device past what was written (to the device). */
#define BUFFER_SET_FILL   __DIOT(_DCMD_MISC, 0x11, int)
/* Swap a and b (both ways). */
#define BUFFER_SWAP       __DIOTF(_DCMD_MISC, 0x12, struct buffer_swap)
/* A command the device does not know. */
#define BUFFER_UNKNOWN    __DION(_DCMD_MISC, 0x13)

#endif
