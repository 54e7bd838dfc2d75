/* The job of bench/workload.py: serves one request and exits, so that every
 * request is one activation (one spawn, one exit, one reap in the manager).
 *
 *   oneshot accept FD [crash]  accept one connection on FD (3: LISTEN_FDS;
 *                              0: inetd Wait true), answer its line
 *   oneshot echo               inetd Wait false: the connection is fds 0-1
 *   oneshot dgram FD [crash]   one datagram on FD, answered to its sender
 *
 * The answer is "ok LINE pid=PID\n". With "crash" it then dies by SIGSEGV,
 * SIGKILL or exit 1 (by pid % 3), after the answer was sent: a crash never
 * loses a request it accepted, so a client that is refused or unanswered
 * shows the manager lost it. Starting costs about nothing (no libc start-up
 * beyond the usual), so the manager's cost is what is measured. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int answer(const char *in, size_t len, char *out, size_t cap) {
    while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r')) len--;
    return snprintf(out, cap, "ok %.*s pid=%d\n", (int)len, in, (int)getpid());
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static size_t read_line(int fd, char *buf, size_t cap) {
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
        if (memchr(buf, '\n', len)) break;
    }
    return len;
}

static int serve_stream(int in, int out) {
    char buf[512], reply[600];
    size_t len = read_line(in, buf, sizeof buf);
    int m = answer(buf, len, reply, sizeof reply);
    return write_all(out, reply, (size_t)m) == 0 ? 0 : 97;
}

static void crash(void) {
    switch (getpid() % 3) {
    case 0: kill(getpid(), SIGKILL); break;
    case 1: raise(SIGSEGV); break;
    default: exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    int rc;
    if (strcmp(argv[1], "echo") == 0) {
        rc = serve_stream(0, 1);
    } else if (argc >= 3 && strcmp(argv[1], "accept") == 0) {
        int c;
        while ((c = accept(atoi(argv[2]), NULL, NULL)) < 0 && errno == EINTR)
            ;
        if (c < 0) return 98;
        rc = serve_stream(c, c);
        close(c);
    } else if (argc >= 3 && strcmp(argv[1], "dgram") == 0) {
        char buf[512], reply[600];
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        ssize_t r;
        while ((r = recvfrom(atoi(argv[2]), buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen)) < 0
               && errno == EINTR)
            ;
        if (r < 0) return 98;
        int m = answer(buf, (size_t)r, reply, sizeof reply);
        rc = sendto(atoi(argv[2]), reply, (size_t)m, 0, (struct sockaddr *)&peer, plen) == m ? 0 : 97;
    } else {
        return 64;
    }
    if (rc == 0 && argc >= 4 && strcmp(argv[3], "crash") == 0) crash();
    if (argc >= 3 && strcmp(argv[argc - 1], "crash") == 0 && strcmp(argv[1], "echo") == 0) crash();
    return rc;
}
