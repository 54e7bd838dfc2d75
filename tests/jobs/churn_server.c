/* Test job: a LISTEN_FDS server that serves N connections on fd 3, each a
 * line answered with "data=LINE pid=PID", then ends: "exit0" exits 0,
 * "mixed" dies by SIGKILL, SIGSEGV or exit 1 (by pid % 3). It never dies
 * with a connection half served: what it accepted, it answered and closed.
 * SIGTERM (pylaunchd stopping it, say for a reload) is graceful: the
 * connection in hand is finished, then it exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static void on_term(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv) {
    if (argc < 3) return 64;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;  /* no SA_RESTART: a blocked accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    int n = atoi(argv[1]);
    const char *listen_pid = getenv("LISTEN_PID");
    if (!listen_pid || atoi(listen_pid) != getpid() || !getenv("LISTEN_FDS")) return 99;
    for (int i = 0; i < n && !stopping; i++) {
        int c = accept(3, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR && stopping) return 0;
            if (errno == EINTR) { i--; continue; }
            return 98;
        }
        char buf[512];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof buf - 1) {
            r = read(c, buf + len, sizeof buf - 1 - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            len += (size_t)r;
            if (memchr(buf, '\n', len)) break;
        }
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
        char out[600];
        int m = snprintf(out, sizeof out, "data=%.*s pid=%d\n", (int)len, buf, (int)getpid());
        ssize_t w;
        while ((w = write(c, out, (size_t)m)) < 0 && errno == EINTR)
            ;
        if (w != m) return 97;
        close(c);
    }
    if (stopping) return 0;
    if (strcmp(argv[2], "mixed") == 0) {
        switch (getpid() % 3) {
        case 0: kill(getpid(), SIGKILL); break;
        case 1: raise(SIGSEGV); break;
        default: return 1;
        }
    }
    return 0;
}
