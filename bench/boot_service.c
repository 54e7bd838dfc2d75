/* One service of bench/boot.py, in C: the protocol and arguments of boot_service.py (see there),
 * with a start of well under a millisecond instead of an interpreter's tens of milliseconds, so
 * that 60 of them starting at once on a few CPUs do not hide what the managers cost.
 *
 *     boot_service NAME SOCKET START_MS RETRY_MS RESULTS MODE [DEPENDENCY_SOCKET ...]
 *
 * Compiled by bench/boot.py with cc. Every wait is bounded (DEADLINE_S), after which it exits 1. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 60

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* the clock of bench/boot.py, in any PID namespace */
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "boot_service: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* A unix socket for PATH; reads on it time out after TIMEOUT s (0: never). */
static int unix_socket(const char *path, struct sockaddr_un *addr, double timeout)
{
    struct timeval tv = {(time_t)timeout, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket for", path);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    strncpy(addr->sun_path, path, sizeof addr->sun_path - 1);
    if (timeout > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One request/reply with the service at PATH; the number of refused connections before it. */
static long ask(const char *path, double retry_s, double deadline)
{
    long refused = 0;
    for (;;) {
        struct sockaddr_un addr;
        char buf[256];
        ssize_t n;
        int fd = unix_socket(path, &addr, deadline - now() + 1);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            if (write(fd, "hello\n", 6) != 6 || (n = read(fd, buf, sizeof buf)) <= 0 || buf[n - 1] != '\n')
                die("no reply line from", path);
            close(fd);
            return refused;
        }
        int e = errno;
        close(fd);
        errno = e;
        if ((e != ENOENT && e != ECONNREFUSED) || now() > deadline)
            die("connect", path);
        refused++;
        sleep_s(retry_s);
    }
}

static int listener(const char *mode, const char *path)
{
    if (strcmp(mode, "fd") == 0) {
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1) {
            fprintf(stderr, "boot_service: mode fd but no LISTEN_FDS for this process\n");
            exit(1);
        }
        return 3;
    }
    struct sockaddr_un addr;
    int fd = unix_socket(path, &addr, 0); /* accept() waits for ever */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 128) != 0)
        die("bind", path);
    printf("ready\n");
    fflush(stdout);
    return fd;
}

static void serve(int server, const char *name)
{
    char reply[128], buf[256];
    int len = snprintf(reply, sizeof reply, "%s up\n", name);
    struct timeval tv = {2, 0};
    for (;;) {
        int conn = accept(server, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept on", name);
        }
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (read(conn, buf, sizeof buf) > 0 && write(conn, reply, len) < 0) {
            /* the client went away: nothing to do */
        }
        close(conn);
    }
}

int main(int argc, char **argv)
{
    double running = now(), deadline = running + DEADLINE_S;
    char tmp[4096], final[4096];
    long refused = 0;
    if (argc < 7) {
        fprintf(stderr, "usage: boot_service NAME SOCKET START_MS RETRY_MS RESULTS MODE [DEP ...]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 7; i < argc; i++)
        refused += ask(argv[i], atof(argv[4]) / 1000, deadline);
    snprintf(tmp, sizeof tmp, "%s/.%s", argv[5], argv[1]);
    snprintf(final, sizeof final, "%s/%s", argv[5], argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld %.6f %.6f\n", refused, running, now()) < 0 || fclose(f) != 0
        || rename(tmp, final) != 0)
        die("write", final);
    sleep_s(atof(argv[3]) / 1000);
    serve(listener(argv[6], argv[2]), argv[1]);
    return 0;
}
