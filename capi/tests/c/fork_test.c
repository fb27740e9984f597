/*
 * A program that uses IPC, then forks: the child's calls are its own (the daemon sees the
 * child's pid), and the parent keeps working. Prints "child pid ok" and "parent ok".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/neutrino.h>

int main(void)
{
	int chid = ChannelCreate(0);
	pid_t parent = getpid();
	pid_t kid = fork();
	if (kid == 0) {
		int coid = ConnectAttach(0, parent, chid, _NTO_SIDE_CHANNEL, 0);
		if (coid == -1) {
			perror("child ConnectAttach");
			_exit(2);
		}
		int x = 1;
		_exit(MsgSend(coid, &x, sizeof(x), NULL, 0) == 7 ? 0 : 3);
	}
	char buf[64];
	struct _msg_info info;
	rcvid_t r = MsgReceive(chid, buf, sizeof(buf), &info);
	if (r <= 0 || info.pid != kid) {
		printf("wrong sender pid %d (child %d, parent %d)\n", info.pid, kid, parent);
		return 1;
	}
	printf("child pid ok\n");
	MsgReply(r, 7, NULL, 0);
	int st;
	waitpid(kid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("child failed %#x\n", st);
		return 1;
	}
	/* The parent's own sessions still work. */
	int self = ConnectAttach(0, 0, chid, _NTO_SIDE_CHANNEL, 0);
	if (MsgSendPulse(self, -1, 1, 2) == -1 || MsgReceive(chid, buf, sizeof(buf), NULL) != 0) {
		perror("parent");
		return 1;
	}
	printf("parent ok\n");
	return 0;
}
