/*
 * <sys/iofunc.h> for qnet: thin. qnet has no resource-manager framework; this header exists
 * so programs that include it "because the docs example does" compile. It brings in
 * <sys/dispatch.h> (hence <sys/neutrino.h> and <sys/iomsg.h>).
 */
#ifndef _QNET_SYS_IOFUNC_H
#define _QNET_SYS_IOFUNC_H

#include <sys/stat.h>
#include <sys/dispatch.h>

#endif
