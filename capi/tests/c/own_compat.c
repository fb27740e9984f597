/* A QNX program that brings its own strlcpy and itoa (same signatures as QNX's) keeps them. */
#include <stdio.h>
#include <string.h>
#include <sys/neutrino.h>

size_t strlcpy(char *dst, const char *src, size_t size)
{
	(void)dst;
	(void)src;
	(void)size;
	return 999;
}

char *itoa(int value, char *buf, int radix)
{
	(void)value;
	(void)radix;
	strcpy(buf, "mine");
	return buf;
}

int main(void)
{
	char b[16];
	size_t n = strlcpy(b, "x", sizeof(b));
	printf("own strlcpy=%zu own itoa=%s\n", n, itoa(1, b, 10));
	return 0;
}
