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
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Stages, as pylaunchd/cspawn.py names them. */
enum { ST_NICE = 1, ST_BATCH, ST_IOPRIO, ST_RLIMIT, ST_CHROOT, ST_IDENTITY, ST_CWD, ST_STDPATH,
       ST_EXEC, ST_FATAL, ST_SETUP };
#define MAX_REPORTS 32
#define MAX_RLIMITS 16
#define STACK_SIZE (64 * 1024)

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
    sigset_t all;
    /* written by the child */
    struct report reports[MAX_REPORTS];
    int nreports;
};

enum { F_NICE = 1, F_BATCH = 2, F_IOPRIO = 4, F_UMASK = 8, F_IDENTITY = 16 };

static void note(struct plan *p, int stage, int index, int err, int fatal)
{
    if (p->nreports < MAX_REPORTS) {
        struct report *r = &p->reports[p->nreports++];
        r->stage = stage; r->index = index; r->err = err; r->fatal = fatal;
    }
}

static void die(struct plan *p, int stage, int index, int err, int status)
{
    note(p, stage, index, err, 1);
    syscall(SYS_exit_group, status);
}

static void put_pid(char *entry, long pid)
{
    char digits[24];
    int n = 0;
    char *at = strchr(entry, '=') + 1;
    do { digits[n++] = (char)('0' + pid % 10); pid /= 10; } while (pid);
    while (n)
        *at++ = digits[--n];
    *at = '\0';
}

static void reset_signals(struct plan *p)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* Any handler of the manager's would run manager code in this child. */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
            sigaction(sig, &dfl, NULL);
    }
    for (Py_ssize_t i = 0; i < p->nsignals; i++)  /* launchd's list, ignored ones included */
        sigaction(p->signals[i], &dfl, NULL);
}

static void limits_and_priorities(struct plan *p)
{
    if ((p->flags & F_NICE) && setpriority(PRIO_PROCESS, 0, p->nice) != 0)
        note(p, ST_NICE, 0, errno, 0);
    if (p->flags & F_BATCH) {
        struct sched_param sp = { .sched_priority = 0 };
        if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
            note(p, ST_BATCH, 0, errno, 0);
    }
#ifdef SYS_ioprio_set
    if ((p->flags & F_IOPRIO) && syscall(SYS_ioprio_set, 1, 0, p->ioprio) != 0)
        note(p, ST_IOPRIO, 0, errno, 0);
#endif
    for (Py_ssize_t i = 0; i < p->nrlimits; i++) {
        struct rlim *l = &p->rlimits[i];
        struct rlimit cur;
        if (getrlimit(l->resource, &cur) != 0) {
            note(p, ST_RLIMIT, (int)i, errno, 0);
            continue;
        }
        if (!(l->keep & 1)) cur.rlim_cur = l->soft;
        if (!(l->keep & 2)) cur.rlim_max = l->hard;
        if (setrlimit(l->resource, &cur) != 0)
            note(p, ST_RLIMIT, (int)i, errno, 0);
    }
}

static void identity_and_directories(struct plan *p)
{
    if (p->chroot_dir != NULL && (chroot(p->chroot_dir) != 0 || chdir("/") != 0))
        die(p, ST_CHROOT, 0, errno, errno ? errno : 1);
    if (p->flags & F_IDENTITY) {
        /* Raw system calls: they change this thread's credentials only. */
        if (syscall(SYS_setgid, p->gid) != 0 || syscall(SYS_setgroups, p->ngroups, p->groups) != 0
                || syscall(SYS_setuid, p->uid) != 0)
            die(p, ST_IDENTITY, 0, errno, errno ? errno : 1);
    }
    if (chdir(p->cwd) != 0) {
        note(p, ST_CWD, 0, errno, 0);
        if (chdir("/") != 0)
            die(p, ST_SETUP, 0, errno, 127);
    }
    if (p->flags & F_UMASK)
        umask((mode_t)p->umask_value);
}

static void lay_out_fds(struct plan *p, int null)
{
    int floor = (int)p->nfds + 3;
    int high[p->nfds];  /* a VLA on the child's own stack, no allocation */
    for (Py_ssize_t i = 0; i < p->nfds; i++) {
        int fd = p->fds[i];
        if (i < 3 && p->std_path[i] != NULL) {
            int opened = open(p->std_path[i], p->std_flags[i] | O_CLOEXEC, 0666);
            if (opened < 0)
                note(p, ST_STDPATH, (int)i, errno, 0);
            else if (p->std_use[i])
                fd = opened;
        }
        /* Everything above the target range first, so that placing fd N
         * never overwrites one still to be placed. */
        high[i] = fcntl(fd < 0 ? null : fd, F_DUPFD_CLOEXEC, floor);
        if (high[i] < 0)
            die(p, ST_SETUP, (int)i, errno, 127);
    }
    for (Py_ssize_t i = 0; i < p->nfds; i++)
        if (dup2(high[i], (int)i) < 0)
            die(p, ST_SETUP, (int)i, errno, 127);
    /* Close every other descriptor the manager had. */
    if (syscall(SYS_close_range, (unsigned)p->nfds, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = p->nfds; fd < (max > 0 ? max : 65536); fd++)
            close((int)fd);
    }
}

static void exec_it(struct plan *p)
{
    int saved = 0, last = ENOENT;
    for (Py_ssize_t i = 0; i < p->nexecs; i++) {
        execve(p->execs[i], p->argv, p->envp);
        last = errno;
        if (last != ENOENT && last != ENOTDIR && saved == 0)
            saved = last;
    }
    int err = saved ? saved : last;
    die(p, ST_EXEC, 0, err, err ? err : ENOEXEC);
}

static int child(void *arg)
{
    struct plan *p = arg;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);  /* before a chroot hides /dev */
    reset_signals(p);
    setpgid(0, 0);
    if (p->fatal)
        die(p, ST_FATAL, 0, 0, p->fatal);
    long pid = syscall(SYS_getpid);
    for (Py_ssize_t i = 0; i < p->npid; i++)
        put_pid(p->pid_vars[i], pid);
    limits_and_priorities(p);
    identity_and_directories(p);
    if (null < 0)
        die(p, ST_SETUP, -1, errno, 127);
    lay_out_fds(p, null);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
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

static int parse_plan(struct plan *p, PyObject *args, PyObject *keep)
{
    PyObject *execs, *argv, *env, *pid_vars, *fds, *std_paths, *signals, *rlimits, *chroot_dir, *cwd, *groups;
    if (!PyArg_ParseTuple(args, "OOOOOOOiiiiOOO&llOi", &execs, &argv, &env, &pid_vars, &fds, &std_paths,
                          &signals, &p->fatal, &p->flags, &p->nice, &p->ioprio, &rlimits, &chroot_dir,
                          PyUnicode_FSConverter, &cwd, &p->uid, &p->gid, &groups, &p->umask_value))
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

PyDoc_STRVAR(spawn_doc,
"spawn(execs, argv, env, pid_vars, fds, std_paths, signals, fatal, flags, nice, ioprio,\n"
"      rlimits, chroot, cwd, uid, gid, groups, umask) -> (pid, reports)\n\n"
"Start a process by the plan pylaunchd.cspawn builds; reports is a list of\n"
"(stage, index, errno, fatal) the child wrote before it exec'd or exited.");

static PyObject *spawn(PyObject *self, PyObject *args)
{
    struct plan *p = PyMem_Calloc(1, sizeof *p);
    PyObject *keep = PyList_New(0), *result = NULL;
    char *stack = NULL;
    if (p == NULL || keep == NULL || parse_plan(p, args, keep) < 0)
        goto done;
    stack = PyMem_Malloc(STACK_SIZE);
    if (stack == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    sigset_t old;
    sigfillset(&p->all);
    int saved_errno = errno;
    pthread_sigmask(SIG_BLOCK, &p->all, &old);  /* no manager handler may run in the child */
    pid_t pid = clone(child, stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, p);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved_errno;
    if (pid < 0) {
        errno = clone_errno;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
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

static PyMethodDef methods[] = {
    {"spawn", spawn, METH_VARARGS, spawn_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pylaunchd._spawn",
    "Execute a spawn plan between clone(CLONE_VM|CLONE_VFORK) and execve (see pylaunchd/cspawn.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__spawn(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
#define STAGE(name) if (PyModule_AddIntConstant(m, #name, name) < 0) { Py_DECREF(m); return NULL; }
    STAGE(ST_NICE) STAGE(ST_BATCH) STAGE(ST_IOPRIO) STAGE(ST_RLIMIT) STAGE(ST_CHROOT) STAGE(ST_IDENTITY)
    STAGE(ST_CWD) STAGE(ST_STDPATH) STAGE(ST_EXEC) STAGE(ST_FATAL) STAGE(ST_SETUP)
    STAGE(F_NICE) STAGE(F_BATCH) STAGE(F_IOPRIO) STAGE(F_UMASK) STAGE(F_IDENTITY)
#undef STAGE
    return m;
}
