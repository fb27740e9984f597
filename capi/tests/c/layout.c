/* Prints the layouts and constants the C API test checks (QNX 64-bit). */
#include <stddef.h>
#include <stdio.h>
#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

int main(void)
{
	printf("pulse %zu code %zu value %zu scoid %zu\n", sizeof(struct _pulse),
	       offsetof(struct _pulse, code), offsetof(struct _pulse, value), offsetof(struct _pulse, scoid));
	printf("msg_info %zu priority %zu msglen %zu dstmsglen %zu\n", sizeof(struct _msg_info),
	       offsetof(struct _msg_info, priority), offsetof(struct _msg_info, msglen),
	       offsetof(struct _msg_info, dstmsglen));
	printf("client_info %zu cred %zu\n", sizeof(struct _client_info), offsetof(struct _client_info, cred));
	printf("iov %zu rcvid %zu\n", sizeof(iov_t), sizeof(rcvid_t));
	printf("name_attach %zu chid %zu\n", sizeof(name_attach_t), offsetof(name_attach_t, chid));
	struct sigevent ev;
	printf("sigevent %zu coid %zu notify %zu priority %zu code %zu\n", sizeof(ev),
	       (size_t)((char *)&ev.sigev_coid - (char *)&ev), (size_t)((char *)&ev.sigev_notify - (char *)&ev),
	       (size_t)((char *)&ev.sigev_priority - (char *)&ev), (size_t)((char *)&ev.sigev_code - (char *)&ev));
	printf("constants %d %d %d %d %d %d %d %d %d\n", _NTO_SIDE_CHANNEL, _PULSE_CODE_DISCONNECT,
	       _NTO_TIMEOUT_SEND, _NTO_TIMEOUT_RECEIVE, _NTO_TIMEOUT_REPLY, _IO_BASE, _IO_CONNECT, _IO_MAX, EOK);
	return 0;
}
