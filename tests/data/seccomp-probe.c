/* A probe for tests/seccomp.rs, built with `gcc -static -pthread` at test
 * time and run inside the container. Each subcommand makes one kind of
 * call and prints "ok" or the errno number, so the test sees exactly what
 * the seccomp filter answered.
 *
 *   probe syscall NR [ARG0]   raw x86_64 syscall NR
 *   probe int80 NR [ARG0]     32-bit x86 syscall NR through int 0x80
 *   probe personality VALUE   personality(VALUE), 64-bit argument
 *   probe threads N           start N pthreads (glibc tries clone3 first)
 *   probe status              the Seccomp lines of /proc/self/status
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long r)
{
	if (r < 0 && r > -4096 && errno == 0)
		errno = (int)-r;
	if (r == -1 || (r < 0 && r > -4096)) {
		printf("errno %d\n", errno);
		return 1;
	}
	printf("ok %ld\n", r);
	return 0;
}

static long int80(long nr, long a0)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a0) : "memory");
	return r;
}

static void *thread_main(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *cmd = argv[1];
	unsigned long a1 = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	unsigned long a2 = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	errno = 0;
	if (strcmp(cmd, "syscall") == 0)
		return report(syscall((long)a1, a2));
	if (strcmp(cmd, "int80") == 0)
		return report(int80((long)a1, (long)a2));
	if (strcmp(cmd, "personality") == 0)
		return report(syscall(SYS_personality, a1));
	if (strcmp(cmd, "threads") == 0) {
		for (unsigned long i = 0; i < a1; i++) {
			pthread_t t;
			int e = pthread_create(&t, NULL, thread_main, NULL);
			if (e != 0) {
				printf("errno %d\n", e);
				return 1;
			}
			pthread_join(t, NULL);
		}
		printf("ok %lu\n", a1);
		return 0;
	}
	if (strcmp(cmd, "status") == 0) {
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, "Seccomp", 7) == 0)
				fputs(line, stdout);
		return 0;
	}
	return 2;
}
