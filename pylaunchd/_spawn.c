/* pylaunchd._spawn: execute a spawn plan in a vfork-style child.
 *
 * What _posixsubprocess is for subprocess: Python decides everything
 * (pylaunchd/spawnplan.py, pylaunchd/cspawn.py); this only carries the plan
 * out between clone(CLONE_VM | CLONE_VFORK) and execve, in launchd's order
 * (the same as pylaunchd/forkexec.py):
 *
 *   signal dispositions and mask, process group, the plan's fatal error,
 *   LISTEN_PID / WATCHDOG_PID, nice, SCHED_BATCH, I/O priority, resource
 *   limits, chroot, setgid / setgroups / setuid, chdir, umask, the standard
 *   paths, the descriptor layout, close everything else, execve.
 *
 * The child shares the manager's memory and is the only thing running of it
 * (the calling thread is suspended until the child execs or exits; we hold
 * the GIL), so it must not allocate, take a lock or call anything that does:
 * every buffer is made before the clone, names were looked up by Python, and
 * the credentials are changed with raw system calls (glibc's setuid() and
 * friends would signal the manager's other threads to change theirs too).
 * The child writes what went wrong (stage, index, errno) into a report in
 * that shared memory, which the parent reads once it runs again; Python turns
 * it into the same messages as the fork path.
 *
 * With wait=False (x86_64 and aarch64) there is no CLONE_VFORK: the manager
 * goes on at once and the child execs beside it, still in its memory. Then
 * the child must not even touch errno (it is in the manager thread's TLS):
 * every system call of the child is made here without libc. The plan, the
 * child's stack and its report stay alive in a Pending object until a pipe,
 * whose write end only the child holds (close-on-exec), reaches end of file:
 * the child has exec'd or exited, and has left the manager's memory.
 *
 * Size: over the project's 400 lines, as one translation unit on purpose:
 * the child's code must be static functions of this file, inlined or called
 * directly, so that nothing it runs goes through the PLT (a first call there
 * runs the dynamic linker, which takes locks) - `objdump -d` of child() shows
 * no call but to die(). The parent's half converts Python objects and is
 * plain CPython C API.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

/* Stages, as pylaunchd/cspawn.py names them. */
enum { ST_NICE = 1, ST_BATCH, ST_IOPRIO, ST_RLIMIT, ST_CHROOT, ST_IDENTITY, ST_CWD, ST_STDPATH,
       ST_EXEC, ST_FATAL, ST_SETUP };
#define MAX_REPORTS 32
#define MAX_RLIMITS 16
/* room for lay_out_fds's VLA too; a multiple of 16 (malloc aligns to 16): the stack top stays aligned */
#define STACK_SIZE(p) ((64 * 1024 + (size_t)(p)->nfds * sizeof(int) + 15) & ~(size_t)15)

struct report { int stage, index, err, fatal; };
struct rlim { int resource, keep; rlim_t soft, hard; };

struct plan {
    char **execs; Py_ssize_t nexecs;   /* candidates, tried in order as os.execvpe does */
    char **argv, **envp;
    char **pid_vars; Py_ssize_t npid;  /* env entries "NAME=" + room: the child writes its pid */
    int *fds; Py_ssize_t nfds;         /* what goes on fd 0, 1, ...; -1: /dev/null */
    char *std_path[3]; int std_flags[3], std_use[3];
    int *signals; Py_ssize_t nsignals;
    int fatal;
    int flags, nice, ioprio;
    struct rlim rlimits[MAX_RLIMITS]; Py_ssize_t nrlimits;
    char *chroot_dir, *cwd;
    long uid, gid; gid_t *groups; Py_ssize_t ngroups;
    int umask_value;
    int report_fd;                     /* wait=False: the child's end of a pipe, open until its exec */
    /* written by the child */
    struct report reports[MAX_REPORTS];
    int nreports;
};

enum { F_NICE = 1, F_BATCH = 2, F_IOPRIO = 4, F_UMASK = 8, F_IDENTITY = 16 };

/* The child's system calls. On x86_64 and aarch64 they are made here,
 * without libc: they return -errno and never touch errno. Elsewhere libc's
 * syscall(), and the manager always waits for the exec (wait=True). */
#if defined(__x86_64__)
#define RAW_SYSCALLS 1
static inline long k6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define RAW_SYSCALLS 1
static inline long k6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}
#else
#define RAW_SYSCALLS 0
static long k6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}
#endif
#define K(n, a, b, c) k6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static void note(struct plan *p, int stage, int index, long ret, int fatal)
{
    if (p->nreports < MAX_REPORTS) {
        struct report *r = &p->reports[p->nreports++];
        r->stage = stage; r->index = index; r->err = (int)-ret; r->fatal = fatal;
    }
}

static void die(struct plan *p, int stage, int index, long ret, int status)
{
    note(p, stage, index, ret, 1);
    for (;;)
        K(SYS_exit_group, status, 0, 0);
}

static int status_of(long ret) { return ret < 0 ? (int)-ret : 1; }

static void put_pid(char *entry, long pid)
{
    char digits[24];
    int n = 0;
    while (*entry != '=')
        entry++;
    entry++;
    do { digits[n++] = (char)('0' + pid % 10); pid /= 10; } while (pid);
    while (n)
        *entry++ = digits[--n];
    *entry = '\0';
}

static void reset_signals(struct plan *p)
{
    /* the kernel's struct sigaction, handler first; all zeroes is SIG_DFL */
    unsigned long dfl[4] = {0, 0, 0, 0}, old[4];
    /* Any handler of the manager's would run manager code in this child. */
    for (long sig = 1; sig < 65; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (k6(SYS_rt_sigaction, sig, 0, (long)old, 8, 0, 0) == 0 && old[0] != (unsigned long)SIG_DFL
                && old[0] != (unsigned long)SIG_IGN)
            k6(SYS_rt_sigaction, sig, (long)dfl, 0, 8, 0, 0);
    }
    for (Py_ssize_t i = 0; i < p->nsignals; i++)  /* launchd's list, ignored ones included */
        k6(SYS_rt_sigaction, p->signals[i], (long)dfl, 0, 8, 0, 0);
}

static void limits_and_priorities(struct plan *p)
{
    long r;
    if ((p->flags & F_NICE) && (r = K(SYS_setpriority, PRIO_PROCESS, 0, p->nice)) < 0)
        note(p, ST_NICE, 0, r, 0);
    if (p->flags & F_BATCH) {
        struct sched_param sp = { .sched_priority = 0 };
        if ((r = K(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp)) < 0)
            note(p, ST_BATCH, 0, r, 0);
    }
#ifdef SYS_ioprio_set
    if ((p->flags & F_IOPRIO) && (r = K(SYS_ioprio_set, 1, 0, p->ioprio)) < 0)
        note(p, ST_IOPRIO, 0, r, 0);
#endif
    for (Py_ssize_t i = 0; i < p->nrlimits; i++) {
        struct rlim *l = &p->rlimits[i];
        struct rlimit cur;
        if ((r = k6(SYS_prlimit64, 0, l->resource, 0, (long)&cur, 0, 0)) < 0) {
            note(p, ST_RLIMIT, (int)i, r, 0);
            continue;
        }
        if (!(l->keep & 1)) cur.rlim_cur = l->soft;
        if (!(l->keep & 2)) cur.rlim_max = l->hard;
        if ((r = k6(SYS_prlimit64, 0, l->resource, (long)&cur, 0, 0, 0)) < 0)
            note(p, ST_RLIMIT, (int)i, r, 0);
    }
}

static void identity_and_directories(struct plan *p)
{
    long r = 0;
    if (p->chroot_dir != NULL && ((r = K(SYS_chroot, p->chroot_dir, 0, 0)) < 0 || (r = K(SYS_chdir, "/", 0, 0)) < 0))
        die(p, ST_CHROOT, 0, r, status_of(r));
    if (p->flags & F_IDENTITY) {
        /* System calls, not glibc's setuid(): they change this thread's credentials only. */
        if ((r = K(SYS_setgid, p->gid, 0, 0)) < 0 || (r = K(SYS_setgroups, p->ngroups, p->groups, 0)) < 0
                || (r = K(SYS_setuid, p->uid, 0, 0)) < 0)
            die(p, ST_IDENTITY, 0, r, status_of(r));
    }
    if ((r = K(SYS_chdir, p->cwd, 0, 0)) < 0) {
        note(p, ST_CWD, 0, r, 0);
        if ((r = K(SYS_chdir, "/", 0, 0)) < 0)
            die(p, ST_SETUP, 0, r, 127);
    }
    if (p->flags & F_UMASK)
        K(SYS_umask, p->umask_value, 0, 0);
}

static void close_others(struct plan *p, long max_fd)
{
    /* Every descriptor of the manager's but the job's and the report pipe
     * (close-on-exec: it stays open until the exec is done). */
    long first = p->nfds, keep = p->report_fd;
    if (keep >= first) {
        if (keep > first && k6(SYS_close_range, first, keep - 1, 0, 0, 0, 0) < 0)
            for (long fd = first; fd < keep; fd++)
                K(SYS_close, fd, 0, 0);
        first = keep + 1;
    }
    if (k6(SYS_close_range, first, ~0U, 0, 0, 0, 0) < 0)
        for (long fd = first; fd < max_fd; fd++)
            K(SYS_close, fd, 0, 0);
}

static void lay_out_fds(struct plan *p, int null, long max_fd)
{
    long floor = (long)p->nfds + 3, r;
    int high[p->nfds];  /* a VLA on the child's own stack, no allocation */
    for (Py_ssize_t i = 0; i < p->nfds; i++) {
        int fd = p->fds[i];
        if (i < 3 && p->std_path[i] != NULL) {
            long opened = k6(SYS_openat, AT_FDCWD, (long)p->std_path[i], p->std_flags[i] | O_CLOEXEC, 0666, 0, 0);
            if (opened < 0)
                note(p, ST_STDPATH, (int)i, opened, 0);
            else if (p->std_use[i])
                fd = (int)opened;
        }
        /* Everything above the target range first, so that placing fd N
         * never overwrites one still to be placed. */
        if ((r = K(SYS_fcntl, fd < 0 ? null : fd, F_DUPFD_CLOEXEC, floor)) < 0)
            die(p, ST_SETUP, (int)i, r, 127);
        high[i] = (int)r;
    }
    for (Py_ssize_t i = 0; i < p->nfds; i++)
        if ((r = K(SYS_dup3, high[i], i, 0)) < 0)
            die(p, ST_SETUP, (int)i, r, 127);
    close_others(p, max_fd);
}

static void exec_it(struct plan *p)
{
    long saved = 0, last = -ENOENT;
    for (Py_ssize_t i = 0; i < p->nexecs; i++) {
        last = K(SYS_execve, p->execs[i], p->argv, p->envp);
        if (last != -ENOENT && last != -ENOTDIR && saved == 0)
            saved = last;
    }
    long err = saved ? saved : last;
    die(p, ST_EXEC, 0, err, err ? (int)-err : ENOEXEC);
}

static int child(void *arg)
{
    struct plan *p = arg;
    struct rlimit files = { .rlim_cur = 65536 };
    k6(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&files, 0, 0);  /* before NumberOfFiles may lower it */
    long max_fd = files.rlim_cur < 1048576 ? (long)files.rlim_cur : 1048576;
    if (p->report_fd >= 0 && p->report_fd < p->nfds) {  /* out of the way of fds 0, 1, 2, 3... */
        long moved = K(SYS_fcntl, p->report_fd, F_DUPFD_CLOEXEC, p->nfds);
        if (moved < 0)
            die(p, ST_SETUP, -1, moved, 127);
        p->report_fd = (int)moved;
    }
    long null = k6(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDWR | O_CLOEXEC, 0, 0, 0);  /* before a chroot */
    reset_signals(p);
    K(SYS_setpgid, 0, 0, 0);
    if (p->fatal)
        die(p, ST_FATAL, 0, 0, p->fatal);
    long pid = K(SYS_getpid, 0, 0, 0);
    for (Py_ssize_t i = 0; i < p->npid; i++)
        put_pid(p->pid_vars[i], pid);
    limits_and_priorities(p);
    identity_and_directories(p);
    if (null < 0)
        die(p, ST_SETUP, -1, null, 127);
    lay_out_fds(p, (int)null, max_fd);
    unsigned long none = 0;
    k6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8, 0, 0);
    exec_it(p);
    return 127;
}

/* ---- the parent: turn Python objects into the plan ---------------------- */

static char **str_list(PyObject *seq, Py_ssize_t *n, PyObject *keep)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of bytes");
    if (fast == NULL)
        return NULL;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    char **out = PyMem_Calloc((size_t)len + 1, sizeof(char *));
    if (out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &b) || PyList_Append(keep, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(fast);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = PyBytes_AS_STRING(b);
        Py_DECREF(b);  /* kept alive by keep */
    }
    Py_DECREF(fast);
    if (n) *n = len;
    return out;
}

static int int_list(PyObject *seq, int **out, Py_ssize_t *n)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of ints");
    if (fast == NULL)
        return -1;
    *n = PySequence_Fast_GET_SIZE(fast);
    *out = PyMem_Calloc((size_t)*n + 1, sizeof(int));
    for (Py_ssize_t i = 0; *out && i < *n; i++) {
        (*out)[i] = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if ((*out)[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return *out ? 0 : (PyErr_NoMemory(), -1);
}

static int pid_entries(struct plan *p, PyObject *names, PyObject *keep)
{
    /* "NAME=" followed by room for any pid; the child writes the digits. */
    PyObject *fast = PySequence_Fast(names, "expected a sequence of bytes");
    if (fast == NULL)
        return -1;
    p->npid = PySequence_Fast_GET_SIZE(fast);
    p->pid_vars = PyMem_Calloc((size_t)p->npid + 1, sizeof(char *));
    for (Py_ssize_t i = 0; p->pid_vars && i < p->npid; i++) {
        PyObject *name = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyBytes_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "pid_vars: expected bytes");
            Py_DECREF(fast);
            return -1;
        }
        PyObject *b = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(name) + 24);
        if (b == NULL || PyList_Append(keep, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(fast);
            return -1;
        }
        Py_DECREF(b);
        char *s = PyBytes_AS_STRING(b);
        memcpy(s, PyBytes_AS_STRING(name), (size_t)PyBytes_GET_SIZE(name));
        strcpy(s + PyBytes_GET_SIZE(name), "=0");
        p->pid_vars[i] = s;
    }
    Py_DECREF(fast);
    return p->pid_vars ? 0 : (PyErr_NoMemory(), -1);
}

static int parse_std_paths(struct plan *p, PyObject *paths, PyObject *keep)
{
    /* (slot, path, open flags, use it) for StandardIn/Out/ErrorPath */
    PyObject *fast = PySequence_Fast(paths, "expected a sequence of tuples");
    if (fast == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        int slot, flags, use;
        PyObject *path, *b = NULL;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "iOii", &slot, &path, &flags, &use)
                || slot < 0 || slot > 2 || !PyUnicode_FSConverter(path, &b) || PyList_Append(keep, b) < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "std_paths: bad slot");
            Py_XDECREF(b);
            Py_DECREF(fast);
            return -1;
        }
        Py_DECREF(b);
        p->std_path[slot] = PyBytes_AS_STRING(b);
        p->std_flags[slot] = flags;
        p->std_use[slot] = use;
    }
    Py_DECREF(fast);
    return 0;
}

static int parse_rlimits(struct plan *p, PyObject *limits)
{
    /* (resource, soft, hard, keep): keep bit 1 keeps the soft limit, 2 the hard */
    PyObject *fast = PySequence_Fast(limits, "expected a sequence of tuples");
    if (fast == NULL)
        return -1;
    p->nrlimits = PySequence_Fast_GET_SIZE(fast);
    if (p->nrlimits > MAX_RLIMITS) {
        PyErr_SetString(PyExc_ValueError, "too many resource limits");
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < p->nrlimits; i++) {
        struct rlim *l = &p->rlimits[i];
        unsigned long long soft, hard;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "iKKi", &l->resource, &soft, &hard, &l->keep)) {
            Py_DECREF(fast);
            return -1;
        }
        l->soft = (rlim_t)soft;
        l->hard = (rlim_t)hard;
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *reports_of(struct plan *p)
{
    PyObject *out = PyList_New(p->nreports);
    for (int i = 0; out && i < p->nreports; i++) {
        struct report *r = &p->reports[i];
        PyObject *t = Py_BuildValue("(iiii)", r->stage, r->index, r->err, r->fatal);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static int parse_plan(struct plan *p, PyObject *args, PyObject *keep, int *wait)
{
    PyObject *execs, *argv, *env, *pid_vars, *fds, *std_paths, *signals, *rlimits, *chroot_dir, *cwd, *groups;
    if (!PyArg_ParseTuple(args, "OOOOOOOiiiiOOO&llOip", &execs, &argv, &env, &pid_vars, &fds, &std_paths,
                          &signals, &p->fatal, &p->flags, &p->nice, &p->ioprio, &rlimits, &chroot_dir,
                          PyUnicode_FSConverter, &cwd, &p->uid, &p->gid, &groups, &p->umask_value, wait))
        return -1;
    PyList_Append(keep, cwd);
    Py_DECREF(cwd);
    p->cwd = PyBytes_AS_STRING(cwd);
    Py_ssize_t nargs, nenv, ngroups;
    if (!(p->execs = str_list(execs, &p->nexecs, keep)) || !(p->argv = str_list(argv, &nargs, keep)))
        return -1;
    if (pid_entries(p, pid_vars, keep) < 0 || !(p->envp = str_list(env, &nenv, keep)))
        return -1;
    char **envp = PyMem_Realloc(p->envp, ((size_t)nenv + (size_t)p->npid + 1) * sizeof(char *));
    if (envp == NULL)
        return PyErr_NoMemory(), -1;
    p->envp = envp;
    for (Py_ssize_t i = 0; i < p->npid; i++)
        envp[nenv + i] = p->pid_vars[i];
    envp[nenv + p->npid] = NULL;
    if (int_list(fds, &p->fds, &p->nfds) < 0 || int_list(signals, &p->signals, &p->nsignals) < 0)
        return -1;
    int *g = NULL;
    if (int_list(groups, &g, &ngroups) < 0)
        return PyMem_Free(g), -1;
    p->groups = PyMem_Calloc((size_t)ngroups + 1, sizeof(gid_t));
    for (Py_ssize_t i = 0; p->groups && i < ngroups; i++)
        p->groups[i] = (gid_t)g[i];
    PyMem_Free(g);
    p->ngroups = ngroups;
    if (p->groups == NULL || p->nfds < 3)
        return p->groups ? (PyErr_SetString(PyExc_ValueError, "fds: at least 0, 1 and 2"), -1) : (PyErr_NoMemory(), -1);
    if (chroot_dir != Py_None) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(chroot_dir, &b) || PyList_Append(keep, b) < 0)
            return Py_XDECREF(b), -1;
        Py_DECREF(b);
        p->chroot_dir = PyBytes_AS_STRING(b);
    }
    if (parse_std_paths(p, std_paths, keep) < 0 || parse_rlimits(p, rlimits) < 0)
        return -1;
    return 0;
}

static void free_plan(struct plan *p)
{
    PyMem_Free(p->execs); PyMem_Free(p->argv); PyMem_Free(p->envp); PyMem_Free(p->pid_vars);
    PyMem_Free(p->fds); PyMem_Free(p->signals); PyMem_Free(p->groups);
}

/* ---- Pending: a child that runs beside the manager (wait=False) ------- */

typedef struct {
    PyObject_HEAD
    struct plan *plan;
    char *stack;
    PyObject *keep;  /* the bytes the child reads */
    int fd;          /* the read end of the report pipe; -1 once done */
} Pending;

static void drain(Pending *self)
{
    /* Until end of file: the child has exec'd or exited, and left our memory. */
    char buf[64];
    for (;;) {
        ssize_t n = read(self->fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            break;
        if (n < 0 && errno == EAGAIN) {
            fd_set set;
            FD_ZERO(&set);
            FD_SET(self->fd, &set);
            select(self->fd + 1, &set, NULL, NULL, NULL);
        }
    }
    close(self->fd);
    self->fd = -1;
}

static void release(Pending *self)
{
    if (self->fd >= 0)
        drain(self);
    PyMem_Free(self->stack);
    self->stack = NULL;
    if (self->plan != NULL)
        free_plan(self->plan);
    PyMem_Free(self->plan);
    self->plan = NULL;
    Py_CLEAR(self->keep);
}

static void pending_dealloc(Pending *self)
{
    release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pending_fileno(Pending *self, PyObject *unused)
{
    return PyLong_FromLong(self->fd);
}

static PyObject *pending_reports(Pending *self, PyObject *unused)
{
    if (self->plan == NULL) {
        PyErr_SetString(PyExc_ValueError, "reports() was already called");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    drain(self);
    Py_END_ALLOW_THREADS
    PyObject *out = reports_of(self->plan);
    release(self);
    return out;
}

static PyMethodDef pending_methods[] = {
    {"fileno", (PyCFunction)pending_fileno, METH_NOARGS, "The pipe that reaches end of file once the child exec'd."},
    {"reports", (PyCFunction)pending_reports, METH_NOARGS,
     "Wait for that end of file; the child's reports, as spawn() returns them with wait=True."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pylaunchd._spawn.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_dealloc = (destructor)pending_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A child started with wait=False, until it has exec'd or exited.",
    .tp_methods = pending_methods,
};

PyDoc_STRVAR(spawn_doc,
"spawn(execs, argv, env, pid_vars, fds, std_paths, signals, fatal, flags, nice, ioprio,\n"
"      rlimits, chroot, cwd, uid, gid, groups, umask, wait) -> (pid, reports or Pending)\n\n"
"Start a process by the plan pylaunchd.cspawn builds; reports is a list of\n"
"(stage, index, errno, fatal) the child wrote before it exec'd or exited.\n"
"wait=False (where ASYNC is true): return at once, with a Pending whose\n"
"reports() gives them once its fileno() is readable.");

static pid_t start_child(struct plan *p, char *stack, int wait)
{
    sigset_t all, old;
    sigfillset(&all);
    int saved_errno = errno;
    pthread_sigmask(SIG_BLOCK, &all, &old);  /* no manager handler may run in the child */
    pid_t pid = clone(child, stack + STACK_SIZE(p), CLONE_VM | (wait ? CLONE_VFORK : 0) | SIGCHLD, p);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = pid < 0 ? clone_errno : saved_errno;
    return pid;
}

static PyObject *spawn(PyObject *self, PyObject *args)
{
    struct plan *p = PyMem_Calloc(1, sizeof *p);
    PyObject *keep = PyList_New(0), *result = NULL;
    char *stack = NULL;
    int wait = 1, pipe_fds[2] = {-1, -1};
    if (p == NULL || keep == NULL || parse_plan(p, args, keep, &wait) < 0)
        goto done;
    wait = wait || !RAW_SYSCALLS;
    p->report_fd = -1;
    stack = PyMem_Malloc(STACK_SIZE(p));
    if (stack == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (!wait) {
        if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        p->report_fd = pipe_fds[1];
    }
    pid_t pid = start_child(p, stack, wait);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);  /* the child's copy alone keeps the pipe open */
    if (pid < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        if (pipe_fds[0] >= 0)
            close(pipe_fds[0]);
        goto done;
    }
    if (!wait) {
        Pending *pending = PyObject_New(Pending, &PendingType);
        if (pending == NULL) {  /* the child still runs in p: wait for it before freeing */
            Pending tmp = {.fd = pipe_fds[0]};
            drain(&tmp);
            goto done;
        }
        pending->plan = p;
        pending->stack = stack;
        pending->keep = keep;
        pending->fd = pipe_fds[0];
        return Py_BuildValue("(iN)", (int)pid, (PyObject *)pending);
    }
    PyObject *reports = reports_of(p);
    if (reports != NULL)
        result = Py_BuildValue("(iN)", (int)pid, reports);
done:
    PyMem_Free(stack);
    if (p != NULL)
        free_plan(p);
    PyMem_Free(p);
    Py_XDECREF(keep);
    return result;
}

/* The manager's own prctl, here so that boot needs no ctypes (pylaunchd/pid1.py). */
static PyObject *set_child_subreaper(PyObject *self, PyObject *noargs)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* glibc's malloc_trim: the free memory at the top of the heap and in its free
 * pages handed back to the system, after the loads of many jobs (pylaunchd/manager.py). */
static PyObject *trim_heap(PyObject *self, PyObject *noargs)
{
#ifdef __GLIBC__
    return PyBool_FromLong(malloc_trim(0));
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"spawn", spawn, METH_VARARGS, spawn_doc},
    {"trim_heap", trim_heap, METH_NOARGS,
     "malloc_trim(0): hand the heap's free pages back to the system; True if any were (False without glibc)."},
    {"set_child_subreaper", set_child_subreaper, METH_NOARGS,
     "prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of this process's descendants are reparented to it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pylaunchd._spawn",
    "Execute a spawn plan between clone(CLONE_VM|CLONE_VFORK) and execve (see pylaunchd/cspawn.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__spawn(void)
{
    if (PyType_Ready(&PendingType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "ASYNC", RAW_SYSCALLS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#define STAGE(name) if (PyModule_AddIntConstant(m, #name, name) < 0) { Py_DECREF(m); return NULL; }
    STAGE(ST_NICE) STAGE(ST_BATCH) STAGE(ST_IOPRIO) STAGE(ST_RLIMIT) STAGE(ST_CHROOT) STAGE(ST_IDENTITY)
    STAGE(ST_CWD) STAGE(ST_STDPATH) STAGE(ST_EXEC) STAGE(ST_FATAL) STAGE(ST_SETUP)
    STAGE(F_NICE) STAGE(F_BATCH) STAGE(F_IOPRIO) STAGE(F_UMASK) STAGE(F_IDENTITY)
#undef STAGE
    return m;
}
