/* pylaunchd/_prebind.c: the `pylaunchd` command, a front end that binds the
 * jobs' sockets before Python starts, then execs the Python manager.
 *
 * Built as an executable (cc -O2 -Wall -o pylaunchd pylaunchd/_prebind.c;
 * libc only) and installed beside `pylaunchd-python`, the real manager.
 *
 * What it does: reads the command line as pylaunchd/cli/pylaunchd.py's
 * quick_options does; works out the domain (job directories, state
 * directory, control socket) as pylaunchd/domain.py does; reads every XML
 * plist of the job directories in the manager's order, and creates, binds
 * and listens on the numeric inet sockets (IPv4/IPv6, a numeric or wildcard
 * address, a port number or an /etc/services name) and the unix sockets it
 * can be sure of (a new file, in a directory reached from / through
 * directories nobody but root or this user can redirect, no SockPathOwner or
 * SockPathGroup; the mode the manager sets) of each job the manager would
 * load; then execs pylaunchd-python with the same arguments,
 * PYLAUNCHD_PREBOUND=fd,fd,... (those sockets, not close-on-exec; nothing
 * else it opened survives the exec) and PYLAUNCHD_FRONT_END=its own path.
 * It prints nothing on that path. A unix socket file it made is removed
 * whenever its socket is dropped here (a job given up, list mode, an exec
 * that failed).
 * PYLAUNCHD_PREBIND=list prints what it would pass instead (for tests).
 *
 * What it guarantees: it is conservative. Whenever it is unsure (a command
 * line it does not know, a re-exec, another manager on the control socket,
 * a plist that is not plain well-formed XML, a key it reads of the wrong
 * type, a job named in overrides.json, Disabled, LimitLoad*, a label seen
 * in an earlier plist) it binds nothing for that job, or nothing at all. It
 * reads Label, Disabled, Program, ProgramArguments, inetdCompatibility,
 * LimitLoad* and Sockets, with the manager's rules for each. No input
 * (huge, deep, malformed, thousands of files) crashes it; memory stays
 * within a few times the largest file; 256 descriptors (half a limit of
 * 1024 or less) are left for the manager. Sockets are made as the manager
 * makes them (SO_REUSEADDR, IPV6_V6ONLY, the somaxconn backlog): taking
 * one over is the same as binding it.
 *
 * What it leaves to Python, which stays authoritative: the other unix
 * sockets (a symlink or another user's directory on the way, a file already
 * at the path, owner or group keys), SecureSocketWithKey, and whole jobs with a host name, SockPassive false,
 * MulticastGroup or port 0; binary plists; the validation of every other
 * key. A job left to the manager keeps its ports: a later job asking for
 * one is left too (first wins, as in the manager). Known gaps, each closed
 * by Python at once (it closes any socket it does not take): a job Python
 * refuses for a key not read here (say a bad StartInterval) may have had
 * its sockets bound here (and Python removes their unix socket files); and a plist this program cannot read (binary, or XML
 * beyond its subset) is invisible to it, so a later plist repeating its
 * label or port is bound.
 *
 * Size: one source of about 2,200 lines, in sections in the order of the
 * steps (command line, domain, overrides, the XML reader, the job's keys,
 * binding, unix sockets, the directories, the exec): setup.py, the
 * benchmarks and the tests each compile it with one plain `cc` command, and
 * every section is private to the program. The XML reader is the largest
 * and the first to move to a file of its own if the program grows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PLIST (4u << 20)     /* pylaunchd/plist.py MAX_PLIST_BYTES */
#define MAX_OVERRIDES (1u << 20)
#define MAX_DEPTH 32
#define MANAGER "pylaunchd-python"
#define ENV_PREBOUND "PYLAUNCHD_PREBOUND"

/* ------------------------------------------------------------------------
 * Small helpers */

static int list_mode;      /* PYLAUNCHD_PREBIND=list */
static int backlog;        /* net.core.somaxconn, read once */
static long fd_limit;      /* no socket at or above: descriptors left for the manager's own start */

static void note(const char *path, const char *fmt, ...)
{
    if (!list_mode)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pylaunchd-prebind: %s: ", path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct { char *p; size_t len, cap; } buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int buf_str(buf_t *b, const char *s) { return buf_add(b, s, strlen(s)); }

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s) {
        memcpy(s, a, la), memcpy(s + la, b, lb), memcpy(s + la + lb, c, lc);
        s[la + lb + lc] = 0;
    }
    return s;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int ci_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A set of byte strings (labels), open addressing. */
typedef struct { char **key; size_t *klen; size_t cap, n; } sset_t;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int sset_has(const sset_t *t, const char *s, size_t n)
{
    if (!t->cap)
        return 0;
    for (size_t i = fnv(s, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->key[i])
            return 0;
        if (t->klen[i] == n && !memcmp(t->key[i], s, n))
            return 1;
    }
}

static int sset_put(sset_t *t, char *k, size_t n)
{
    for (size_t i = fnv(k, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (!t->key[i]) {
            t->key[i] = k, t->klen[i] = n, t->n++;
            return 0;
        }
}

static int sset_add(sset_t *t, const char *s, size_t n)
{
    if (sset_has(t, s, n))
        return 0;
    if ((t->n + 1) * 2 > t->cap) {
        sset_t g = {0};
        g.cap = t->cap ? t->cap * 2 : 64;
        g.key = calloc(g.cap, sizeof *g.key);
        g.klen = calloc(g.cap, sizeof *g.klen);
        if (!g.key || !g.klen)
            return free(g.key), free(g.klen), -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->key[i])
                sset_put(&g, t->key[i], t->klen[i]);
        free(t->key), free(t->klen);
        *t = g;
    }
    char *k = malloc(n + 1);
    if (!k)
        return -1;
    memcpy(k, s, n);
    k[n] = 0;
    return sset_put(t, k, n);
}

/* ------------------------------------------------------------------------
 * Paths: os.path.abspath and os.path.expanduser, as the manager uses them */

/* posixpath.abspath: joined to the cwd, then normpath's lexical rules. */
static char *abspath(const char *path)
{
    char *cwd = NULL, *full;
    if (path[0] != '/') {
        cwd = getcwd(NULL, 0);
        if (!cwd)
            return NULL;
    }
    full = cwd ? join3(cwd, "/", path) : strdup(path);
    free(cwd);
    if (!full)
        return NULL;
    size_t n = strlen(full), o = 0;
    char *out = malloc(n + 2);
    if (!out)
        return free(full), NULL;
    int two = full[0] == '/' && full[1] == '/' && full[2] != '/';  /* POSIX: "//" stays */
    out[o++] = '/';
    if (two)
        out[o++] = '/';
    size_t base = o;
    for (char *c = full; *c;) {
        while (*c == '/')
            c++;
        char *e = c;
        while (*e && *e != '/')
            e++;
        size_t l = (size_t)(e - c);
        if (l == 0 || (l == 1 && c[0] == '.')) {
        } else if (l == 2 && c[0] == '.' && c[1] == '.') {
            while (o > base && out[o - 1] != '/')
                o--;
            if (o > base)
                o--;
        } else {
            if (o > base)
                out[o++] = '/';
            memcpy(out + o, c, l), o += l;
        }
        c = e;
    }
    out[o] = 0;
    free(full);
    return out;
}

/* os.path.expanduser for "~" and "~/...": NULL for "~user" or no $HOME
 * (Python would ask the password database: the caller then binds nothing). */
static char *expanduser(const char *path, int *unsure)
{
    if (path[0] != '~')
        return strdup(path);
    const char *home = getenv("HOME");
    if ((path[1] && path[1] != '/') || !home || !*home) {
        *unsure = 1;
        return NULL;
    }
    size_t hl = strlen(home);
    while (hl > 0 && home[hl - 1] == '/')
        hl--;
    char *s = malloc(hl + strlen(path) + 2);
    if (!s)
        return NULL;
    memcpy(s, home, hl);
    strcpy(s + hl, path + 1);
    if (!*s)
        strcpy(s, "/");
    return s;
}

static char *expand_abs(const char *path, int *unsure)
{
    char *e = expanduser(path, unsure);
    if (!e)
        return NULL;
    char *a = abspath(e);
    free(e);
    return a;
}

/* ------------------------------------------------------------------------
 * 1-3. The command line and the domain */

struct opts {
    int user, system;
    int njobs;
    const char **jobs;
    const char *control, *state, *log_level;
};

static int value_option(const char *name)
{
    static const char *const names[] = {"--jobs-dir", "--control-socket", "--state-dir", "--log-level",
                                        "--exit-with", "--bus-address", "--bus-service-dir", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(name, names[i]))
            return i + 1;
    return 0;
}

/* quick_options: 0 for an ordinary command line, -1 for anything else. */
static int parse_options(int argc, char **argv, struct opts *o)
{
    o->jobs = calloc((size_t)argc + 1, sizeof *o->jobs);
    if (!o->jobs)
        return -1;
    o->log_level = "info";
    for (int i = 1; i < argc;) {
        char name[32];
        const char *arg = argv[i++], *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nl >= sizeof name)
            return -1;
        memcpy(name, arg, nl);
        name[nl] = 0;
        if (!strcmp(name, "--user") || !strcmp(name, "--system")) {
            if (eq)
                return -1;
            *(name[2] == 'u' ? &o->user : &o->system) = 1;
            continue;
        }
        int which = value_option(name);
        if (!which)
            return -1;
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i >= argc)
                return -1;
            value = argv[i++];
        }
        if (which == 1)
            o->jobs[o->njobs++] = value;
        else if (which == 2)
            o->control = value;
        else if (which == 3)
            o->state = value;
        else if (which == 4)
            o->log_level = value;
    }
    const char *ll = o->log_level;
    if ((o->user && o->system) || !(ci_eq(ll, strlen(ll), "debug") || ci_eq(ll, strlen(ll), "info") ||
                                    ci_eq(ll, strlen(ll), "warning") || ci_eq(ll, strlen(ll), "error")))
        return -1;
    return 0;
}

struct domain {
    int system;
    int ndirs;
    char **dirs;
    char *state, *control;
};

/* domain._xdg: $VAR when absolute, else the default under $HOME. */
static char *xdg(const char *var, const char *dflt, int *unsure)
{
    const char *v = getenv(var);
    return v && v[0] == '/' ? strdup(v) : expanduser(dflt, unsure);
}

static int usable_dir(const char *d)
{
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode) && access(d, W_OK | X_OK) == 0;
}

/* tempfile.gettempdir(), near enough: $TMPDIR, $TEMP, $TMP, /tmp, /var/tmp, /usr/tmp, the cwd. */
static char *tempdir(void)
{
    static const char *const vars[] = {"TMPDIR", "TEMP", "TMP"};
    static const char *const dirs[] = {"/tmp", "/var/tmp", "/usr/tmp"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && usable_dir(v))
            return abspath(v);
    }
    for (int i = 0; i < 3; i++)
        if (usable_dir(dirs[i]))
            return strdup(dirs[i]);
    return getcwd(NULL, 0);
}

static char *default_control(int system, int *unsure)
{
    const char *env = getenv("PYLAUNCHD_CONTROL_SOCKET");
    if (env && *env)
        return strdup(env);
    if (system)
        return strdup("/run/pylaunchd/control.sock");
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && rt[0] == '/')
        return join3(rt, "/", "pylaunchd/control.sock");
    char *tmp = tempdir(), uid[32];
    if (!tmp)
        return *unsure = 1, NULL;
    snprintf(uid, sizeof uid, "/pylaunchd-%u/control.sock", (unsigned)getuid());
    char *s = join3(tmp, uid, "");
    free(tmp);
    return s;
}

static int default_dirs(struct domain *d, int *unsure)
{
    d->dirs = calloc(2, sizeof *d->dirs);
    if (!d->dirs)
        return -1;
    d->ndirs = 2;
    if (d->system) {
        d->dirs[0] = strdup("/Library/LaunchDaemons");
        d->dirs[1] = strdup("/etc/pylaunchd/LaunchDaemons");
    } else {
        char *config = xdg("XDG_CONFIG_HOME", "~/.config", unsure);
        d->dirs[0] = expanduser("~/Library/LaunchAgents", unsure);
        d->dirs[1] = config ? join3(config, "/", "pylaunchd/LaunchAgents") : NULL;
        free(config);
    }
    for (int i = 0; i < 2; i++) {
        char *a = d->dirs[i] ? abspath(d->dirs[i]) : NULL;
        free(d->dirs[i]);
        d->dirs[i] = a;
    }
    return d->dirs[0] && d->dirs[1] ? 0 : -1;
}

/* The domain as cli/pylaunchd.py start() builds it; -1 when unsure. */
static int make_domain(const struct opts *o, struct domain *d)
{
    int unsure = 0;
    d->system = o->system || (!o->user && geteuid() == 0);
    if (o->njobs) {
        d->dirs = calloc((size_t)o->njobs, sizeof *d->dirs);
        if (!d->dirs)
            return -1;
        for (d->ndirs = 0; d->ndirs < o->njobs; d->ndirs++)
            if (!(d->dirs[d->ndirs] = expand_abs(o->jobs[d->ndirs], &unsure)))
                return -1;
    } else if (default_dirs(d, &unsure)) {
        return -1;
    }
    if (o->state && *o->state) {
        d->state = expand_abs(o->state, &unsure);
    } else if (d->system) {
        d->state = strdup("/var/lib/pylaunchd");
    } else {
        char *s = xdg("XDG_STATE_HOME", "~/.local/state", &unsure);
        d->state = s ? join3(s, "/", "pylaunchd") : NULL;
        free(s);
    }
    char *c = o->control && *o->control ? strdup(o->control) : default_control(d->system, &unsure);
    d->control = c ? abspath(c) : NULL;
    free(c);
    return unsure || !d->state || !d->control ? -1 : 0;
}

/* 4. Another manager holds <control socket>.lock (never created here). */
static int manager_running(const char *control)
{
    char *lock = join3(control, ".lock", "");
    if (!lock)
        return 1;
    int fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(lock);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && (errno == EWOULDBLOCK || errno == EAGAIN);
    close(fd);
    return held;
}

/* ------------------------------------------------------------------------
 * Reading files */

/* The whole file open at fd, at most limit bytes (-1: more, or a read error). */
static ssize_t read_all(int fd, size_t size_hint, size_t limit, buf_t *b)
{
    size_t want = (size_hint < limit ? size_hint : limit) + 2;
    b->len = 0;
    for (;;) {
        if (b->cap < b->len + want) {
            size_t cap = b->len + want;
            char *p = realloc(b->p, cap);
            if (!p)
                return -1;
            b->p = p, b->cap = cap;
        }
        ssize_t r = read(fd, b->p + b->len, b->cap - b->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        b->len += (size_t)r;
        if (b->len > limit)
            return -1;
        want = 1 << 16;
    }
    b->p[b->len] = 0;
    return (ssize_t)b->len;
}

/* 5. overrides.json: every JSON string in it (labels of printable ASCII only). */
static int scan_json_strings(const char *s, size_t n, sset_t *out)
{
    char tmp[4096];
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"')
            continue;
        size_t o = 0;
        int plain = 1;
        for (i++;; i++) {
            if (i >= n || (unsigned char)s[i] < 0x20)
                return -1;          /* unterminated, or what json refuses */
            unsigned char c = (unsigned char)s[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (++i >= n)
                    return -1;
                const char *esc = strchr("\"\\/bfnrtu", s[i]);
                if (!esc || !s[i])
                    return -1;
                if (s[i] == 'u') {
                    if (i + 4 >= n)
                        return -1;
                    unsigned v = 0;
                    for (int k = 1; k <= 4; k++) {
                        char h = s[i + k];
                        if (!isxdigit((unsigned char)h))
                            return -1;
                        v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                    }
                    i += 4;
                    c = v >= 0x20 && v < 0x7f ? (unsigned char)v : 0;
                } else {
                    c = s[i] == '"' || s[i] == '\\' || s[i] == '/' ? (unsigned char)s[i] : 0;
                }
                if (!c)
                    plain = 0;
            } else if (c >= 0x7f) {
                plain = 0;
            }
            if (plain && o < sizeof tmp)
                tmp[o++] = (char)c;
            else
                plain = 0;
        }
        if (plain && sset_add(out, tmp, o))
            return -1;
    }
    return 0;
}

static int load_overrides(const char *state_dir, sset_t *out, const char **why)
{
    char *path = join3(state_dir, "/", "overrides.json");
    buf_t b = {0};
    int rc = 0;
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
        *why = "cannot be read";
    } else {
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_OVERRIDES) {
            rc = -1, *why = "not a regular file of at most 1 MiB";
        } else if (read_all(fd, (size_t)st.st_size, MAX_OVERRIDES, &b) < 0) {
            rc = -1, *why = "cannot be read, or is over 1 MiB";
        } else if (scan_json_strings(b.p, b.len, out)) {
            rc = -1, *why = "is not JSON this program can read";
        }
        close(fd);
    }
    if (rc)
        note(path, "%s: nothing is pre-bound (the manager decides every job's enabled state)", *why);
    free(path);
    free(b.p);
    return rc;
}

static int read_backlog(void)
{
    char buf[32];
    int fd = open("/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SOMAXCONN;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return SOMAXCONN;
    buf[r] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    while (is_ws(*end))
        end++;
    return *end || v <= 0 || v > INT_MAX ? SOMAXCONN : (int)v;
}

/* ------------------------------------------------------------------------
 * 7. The plist reader: a strict subset of well-formed XML, decoded in place.
 *
 * Whatever it accepts, expat (plistlib, pylaunchd/plistxml.py) accepts and
 * reads the same way, or pylaunchd/plist.py's lenient reading does (a blank
 * line or a comment before <?xml, a DOCTYPE before <plist>). Anything else
 * is an error here: unknown elements, attributes (but on <plist>), text
 * beside the elements of a dict or array, a key without its value, entities
 * but the five and character references, an encoding but UTF-8, bytes that
 * are not UTF-8 or not XML characters. */

enum { T_DICT = 1, T_ARRAY, T_KEY, T_STRING, T_INTEGER, T_REAL, T_TRUE, T_FALSE, T_DATA, T_DATE };

typedef struct {
    int type, first, next, count;  /* children: first, then next of each; a dict's alternate key, value */
    char *s;                       /* a leaf's decoded text (in the file's buffer) */
    size_t len;
} node_t;

struct px {
    char *p, *end;
    node_t *nv;
    int n, cap, depth;
    const char *err;
};

static const char *const TAGS[] = {NULL, "dict", "array", "key", "string", "integer", "real", "true", "false",
                                   "data", "date", NULL};

static int fail(struct px *x, const char *why)
{
    if (!x->err)
        x->err = why;
    return -1;
}

static int at(const struct px *x, const char *p, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(x->end - p) >= n && !memcmp(p, lit, n);
}

/* Every byte valid UTF-8 of XML characters (no NUL, no controls but tab, LF, CR,
 * no surrogates, no U+FFFE/U+FFFF). */
static int xml_chars(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return -1;
            i++;
            continue;
        }
        int k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
        if (!k || c > 0xf4 || i + (size_t)k >= n)
            return -1;
        unsigned v = c & (0x3f >> k);
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return -1;
            v = (v << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && v < 0x800) || (k == 3 && (v < 0x10000 || v > 0x10ffff)) ||
            (v >= 0xd800 && v <= 0xdfff) || v == 0xfffe || v == 0xffff)
            return -1;
        i += (size_t)k + 1;
    }
    return 0;
}

/* p at "<!--": past its first "-->", or NULL. A "--" inside is not XML, but
 * pylaunchd/plist.py's lenient reading drops "<!--.*?-->" as this does (and
 * "<!--" cannot be elsewhere here: no CDATA, DOCTYPE or attribute value has it). */
static char *past_comment(const struct px *x, char *p)
{
    char *q = memmem(p + 4, (size_t)(x->end - p - 4), "-->", 3);
    return q ? q + 3 : NULL;
}

/* Blanks and comments (between elements, before and after the root). */
static int skip_misc(struct px *x)
{
    for (;;) {
        while (x->p < x->end && is_ws(*x->p))
            x->p++;
        if (!at(x, x->p, "<!--"))
            return 0;
        if (!(x->p = past_comment(x, x->p)))
            return fail(x, "malformed comment");
    }
}

/* A quoted attribute value at p: past its closing quote, or NULL. No '<' or '&' in it. */
static char *past_quoted(const struct px *x, char *p, char **value, size_t *len)
{
    if (p >= x->end || (*p != '"' && *p != '\''))
        return NULL;
    char *q = memchr(p + 1, *p, (size_t)(x->end - p - 1));
    if (!q || memchr(p + 1, '<', (size_t)(q - p - 1)) || memchr(p + 1, '&', (size_t)(q - p - 1)))
        return NULL;
    *value = p + 1, *len = (size_t)(q - p - 1);
    return q + 1;
}

/* Attributes up to '>' (of <plist> and <?xml ... ?>): name="value" pairs, each
 * after a blank; names are returned one at a time through cb. */
static int attributes(struct px *x, const char *close, int (*cb)(struct px *, const char *, size_t, const char *,
                                                                 size_t, void *), void *arg)
{
    for (;;) {
        char *p = x->p;
        while (p < x->end && is_ws(*p))
            p++;
        if (at(x, p, close)) {
            x->p = p + strlen(close);
            return 0;
        }
        if (p == x->p)
            return fail(x, "malformed tag");
        char *name = p;
        while (p < x->end && (isalnum((unsigned char)*p) || strchr("_:.-", *p)))
            p++;
        size_t nl = (size_t)(p - name);
        while (p < x->end && is_ws(*p))
            p++;
        if (!nl || p >= x->end || *p++ != '=')
            return fail(x, "malformed attribute");
        while (p < x->end && is_ws(*p))
            p++;
        char *value;
        size_t vl;
        if (!(x->p = past_quoted(x, p, &value, &vl)))
            return fail(x, "malformed attribute value");
        if (cb && cb(x, name, nl, value, vl, arg))
            return -1;
    }
}

/* The XML declaration: version 1.x, encoding UTF-8 (or none), standalone; in that order. */
static int decl_attribute(struct px *x, const char *name, size_t nl, const char *value, size_t vl, void *arg)
{
    int *seen = arg;
    static const char *const order[] = {"version", "encoding", "standalone"};
    int i = 0;
    while (i < 3 && !(strlen(order[i]) == nl && !memcmp(name, order[i], nl)))
        i++;
    if (i == 3 || i < *seen || (i == 0) != (*seen == 0))
        return fail(x, "unusual XML declaration");
    *seen = i + 1;
    if ((i == 0 && (vl < 3 || memcmp(value, "1.", 2))) || (i == 1 && !ci_eq(value, vl, "UTF-8")) ||
        (i == 2 && !(ci_eq(value, vl, "yes") || ci_eq(value, vl, "no"))))
        return fail(x, "an XML declaration other than version 1.x, encoding UTF-8");
    return 0;
}

/* One attribute of <plist> at most once (expat refuses a repeated one). */
static int plist_attribute(struct px *x, const char *name, size_t nl, const char *value, size_t vl, void *arg)
{
    buf_t *names = arg;
    (void)value, (void)vl;
    for (size_t i = 0; i < names->len;) {
        size_t l = strlen(names->p + i);
        if (l == nl && !memcmp(names->p + i, name, nl))
            return fail(x, "a repeated attribute of <plist>");
        i += l + 1;
    }
    return buf_add(names, name, nl) || buf_add(names, "", 1) ? fail(x, "out of memory") : 0;
}

/* Up to and past "<plist ...>": a byte order mark, blanks, comments, <?xml?>, <!DOCTYPE>. */
static int prolog(struct px *x)
{
    if (at(x, x->p, "\xef\xbb\xbf"))
        x->p += 3;
    if (skip_misc(x))
        return -1;
    if (at(x, x->p, "<?xml") && x->p + 5 < x->end && (is_ws(x->p[5]) || x->p[5] == '?')) {
        int seen = 0;
        x->p += 5;
        if (attributes(x, "?>", decl_attribute, &seen) || skip_misc(x))
            return -1;
        if (!seen)
            return fail(x, "an XML declaration without a version");
    }
    if (at(x, x->p, "<!DOCTYPE")) {
        char *gt = memchr(x->p, '>', (size_t)(x->end - x->p));
        if (!gt || memchr(x->p, '[', (size_t)(gt - x->p)) || memchr(x->p + 1, '<', (size_t)(gt - x->p - 1)))
            return fail(x, "a DOCTYPE with an internal subset");
        x->p = gt + 1;
        if (skip_misc(x))
            return -1;
    }
    if (!at(x, x->p, "<plist") || x->p + 6 >= x->end || !(is_ws(x->p[6]) || x->p[6] == '>'))
        return fail(x, "not an XML property list");
    x->p += 6;
    buf_t names = {0};
    int rc = attributes(x, ">", plist_attribute, &names);
    free(names.p);
    return rc;
}

static int utf8_put(char *d, unsigned v)
{
    if (v < 0x80)
        return d[0] = (char)v, 1;
    if (v < 0x800)
        return d[0] = (char)(0xc0 | v >> 6), d[1] = (char)(0x80 | (v & 0x3f)), 2;
    if (v < 0x10000)
        return d[0] = (char)(0xe0 | v >> 12), d[1] = (char)(0x80 | ((v >> 6) & 0x3f)),
               d[2] = (char)(0x80 | (v & 0x3f)), 3;
    d[0] = (char)(0xf0 | v >> 18), d[1] = (char)(0x80 | ((v >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((v >> 6) & 0x3f)), d[3] = (char)(0x80 | (v & 0x3f));
    return 4;
}

/* An entity at *src ('&'): its UTF-8 written at *dst (never longer than the
 * reference itself, so decoding in place is safe); -1 if not one XML knows. */
static int entity(struct px *x, char **src, char **dst)
{
    static const char *const names[] = {"lt;", "gt;", "amp;", "quot;", "apos;"};
    static const char chars[] = "<>&\"'";
    char *s = *src + 1;
    for (int i = 0; i < 5; i++)
        if (at(x, s, names[i])) {
            *(*dst)++ = chars[i];
            *src = s + strlen(names[i]);
            return 0;
        }
    if (s >= x->end || *s != '#')
        return fail(x, "an entity other than &lt; &gt; &amp; &quot; &apos;");
    int hex = ++s < x->end && *s == 'x';
    s += hex;
    unsigned v = 0;
    char *digits = s;
    while (s < x->end && (hex ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s)) && v <= 0x10ffff) {
        int d = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
        v = v * (hex ? 16 : 10) + (unsigned)d;
        s++;
    }
    if (s == digits || s >= x->end || *s != ';' || v > 0x10ffff || (v < 0x20 && v != 9 && v != 10 && v != 13) ||
        (v >= 0xd800 && v <= 0xdfff) || v == 0xfffe || v == 0xffff)
        return fail(x, "a character reference XML does not allow");
    *dst += utf8_put(*dst, v);
    *src = s + 1;
    return 0;
}

/* A leaf's text, up to and past "</tag>", decoded over itself: entities,
 * CDATA, comments dropped, line ends made "\n" (as XML reads them). */
static int leaf_text(struct px *x, node_t *nd, const char *tag)
{
    char *src = x->p, *dst = x->p;
    nd->s = dst;
    for (;;) {
        if (src >= x->end)
            return fail(x, "a value without its end tag");
        char c = *src;
        if (c == '&') {
            if (entity(x, &src, &dst))
                return -1;
        } else if (c == '\r') {
            *dst++ = '\n';
            src += 1 + (src + 1 < x->end && src[1] == '\n');
        } else if (c == ']' && at(x, src, "]]>")) {
            return fail(x, "]]> in text");
        } else if (c != '<') {
            *dst++ = *src++;
        } else if (at(x, src, "<![CDATA[")) {
            char *e = memmem(src + 9, (size_t)(x->end - src - 9), "]]>", 3);
            if (!e || memmem(src + 9, (size_t)(e - src - 9), "<!--", 4))
                return fail(x, "a CDATA section this reader does not take");
            for (src += 9; src < e;)
                if (*src == '\r')
                    *dst++ = '\n', src += 1 + (src + 1 < e && src[1] == '\n');
                else
                    *dst++ = *src++;
            src = e + 3;
        } else if (at(x, src, "<!--")) {
            if (!(src = past_comment(x, src)))
                return fail(x, "malformed comment");
        } else {
            size_t tl = strlen(tag);
            char *p = src + 2 + tl;
            if (src[1] != '/' || !at(x, src + 2, tag))
                return fail(x, "an element inside a value, or a mismatched end tag");
            while (p < x->end && is_ws(*p))
                p++;
            if (p >= x->end || *p != '>')
                return fail(x, "a mismatched end tag");
            nd->len = (size_t)(dst - nd->s);
            *dst = 0;  /* over text already read: each leaf a C string (no NUL can be in one) */
            x->p = p + 1;
            return 0;
        }
    }
}

static int new_node(struct px *x, int type)
{
    if (x->n == x->cap) {
        int cap = x->cap ? x->cap * 2 : 256;
        node_t *nv = realloc(x->nv, (size_t)cap * sizeof *nv);
        if (!nv)
            return fail(x, "out of memory");
        x->nv = nv, x->cap = cap;
    }
    memset(&x->nv[x->n], 0, sizeof *x->nv);
    x->nv[x->n].type = type;
    x->nv[x->n].first = x->nv[x->n].next = -1;
    return x->n++;
}

/* "<name" at x->p, then blanks and '>' or "/>": the tag's type (0: unknown or malformed). */
static int open_tag(struct px *x, int *empty)
{
    char *p = x->p + 1, *q = p;
    int type = 0;
    while (q < x->end && *q >= 'a' && *q <= 'z')
        q++;
    for (int i = 1; TAGS[i] && !type; i++)
        if (strlen(TAGS[i]) == (size_t)(q - p) && !memcmp(p, TAGS[i], (size_t)(q - p)))
            type = i;
    p = q;
    if (!type || p >= x->end || !(*p == '>' || *p == '/' || is_ws(*p)))
        return fail(x, "an element a property list does not have"), 0;
    while (p < x->end && is_ws(*p))
        p++;
    *empty = at(x, p, "/>");
    if (!*empty && !at(x, p, ">"))
        return fail(x, "an attribute, or a malformed tag"), 0;
    x->p = p + 1 + *empty;
    return type;
}

static int value(struct px *x, int want_key);

/* The elements of a dict or an array, up to and past its end tag. */
static int container(struct px *x, int id)
{
    int type = x->nv[id].type, last = -1;
    if (++x->depth > MAX_DEPTH)
        return fail(x, "nested deeper than this reader goes");
    for (int i = 0;; i++) {
        if (skip_misc(x))
            return -1;
        if (at(x, x->p, "</")) {
            const char *tag = TAGS[type];
            char *p = x->p + 2 + strlen(tag);
            if ((type == T_DICT && (i & 1)) || !at(x, x->p + 2, tag))
                return fail(x, "a key without its value, or a mismatched end tag");
            while (p < x->end && is_ws(*p))
                p++;
            if (p >= x->end || *p != '>')
                return fail(x, "a mismatched end tag");
            x->p = p + 1;
            x->depth--;
            return 0;
        }
        int child = value(x, type == T_DICT && !(i & 1));
        if (child < 0)
            return -1;
        if (last < 0)
            x->nv[id].first = child;
        else
            x->nv[last].next = child;
        last = child;
        x->nv[id].count++;
    }
}

static int check_leaf(struct px *x, const node_t *nd);

/* One element at x->p: a key when want_key (a dict's even places), else a value. */
static int value(struct px *x, int want_key)
{
    int empty;
    if (x->p >= x->end || *x->p != '<')
        return fail(x, "text where an element belongs");
    int type = open_tag(x, &empty);
    if (!type)
        return -1;
    if ((type == T_KEY) != want_key)
        return fail(x, want_key ? "a value where a key belongs" : "a key where a value belongs");
    int id = new_node(x, type);
    if (id < 0)
        return -1;
    if (type == T_DICT || type == T_ARRAY)
        return empty ? id : container(x, id) ? -1 : id;
    if (empty)
        x->nv[id].s = (char *)"", x->nv[id].len = 0;
    else if (leaf_text(x, &x->nv[id], TAGS[type]))
        return -1;
    return check_leaf(x, &x->nv[id]) ? -1 : id;
}

/* The whole document: its root value's node (0), or -1. */
static int parse_plist(struct px *x)
{
    if (prolog(x) || skip_misc(x))
        return -1;
    int root = value(x, 0);
    if (root < 0 || skip_misc(x))
        return -1;
    if (!at(x, x->p, "</plist"))
        return fail(x, "more than one value in <plist>");
    x->p += 7;
    while (x->p < x->end && is_ws(*x->p))
        x->p++;
    if (x->p >= x->end || *x->p++ != '>' || skip_misc(x) || x->p != x->end)
        return fail(x, "something after </plist>");
    return root;
}

/* ------------------------------------------------------------------------
 * Leaf values, as Python reads them (a subset: what Python would refuse is
 * refused; some of what it accepts, such as 1_000, is refused too). */

/* <integer>: int(text), or int(text, 16) after "0x". *big: beyond int64. */
static int int_value(const char *s, size_t n, long long *v, int *big)
{
    size_t i = 0;
    int neg = 0, hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    *v = 0, *big = 0;
    if (hex) {
        i = 2;
    } else {
        while (i < n && is_ws(s[i]))
            i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
    }
    size_t start = i;
    unsigned long long acc = 0;
    for (; i < n && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i])); i++) {
        unsigned d = isdigit((unsigned char)s[i]) ? (unsigned)(s[i] - '0') : (unsigned)(tolower(s[i]) - 'a' + 10);
        if (acc > (ULLONG_MAX >> 5))
            *big = 1;
        else
            acc = acc * (hex ? 16 : 10) + d;
    }
    if (i == start)
        return -1;
    while (i < n && is_ws(s[i]))
        i++;
    if (i != n)
        return -1;
    if (acc > (unsigned long long)LLONG_MAX)
        *big = 1;
    *v = *big ? 0 : neg ? -(long long)acc : (long long)acc;
    return 0;
}

/* <real>: float(text), ASCII spellings only (no hexadecimal: strtod's, not Python's). */
static int real_ok(const char *s, size_t n)
{
    size_t i = 0, e = n;
    while (i < n && is_ws(s[i]))
        i++;
    while (e > i && is_ws(s[e - 1]))
        e--;
    if (i < e && (s[i] == '+' || s[i] == '-'))
        i++;
    if (ci_eq(s + i, e - i, "inf") || ci_eq(s + i, e - i, "infinity") || ci_eq(s + i, e - i, "nan"))
        return 0;
    size_t d = 0;
    for (; i < e && isdigit((unsigned char)s[i]); i++)
        d++;
    if (i < e && s[i] == '.')
        for (i++; i < e && isdigit((unsigned char)s[i]); i++)
            d++;
    if (!d)
        return -1;
    if (i < e && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < e && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        for (; i < e && isdigit((unsigned char)s[i]); i++)
            ed++;
        if (!ed)
            return -1;
    }
    return i == e ? 0 : -1;
}

/* <data>: what binascii.a2b_base64 takes: base64 letters and blanks, the padding last. */
static int data_ok(const char *s, size_t n)
{
    size_t letters = 0, pads = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_ws(c))
            continue;
        if (c == '=') {
            pads++;
        } else if ((isalnum((unsigned char)c) || c == '+' || c == '/') && !pads) {
            letters++;
        } else {
            return -1;
        }
    }
    size_t r = letters % 4;
    return (r == 0 && pads == 0) || (r == 2 && pads == 2) || (r == 3 && pads == 1) ? 0 : -1;
}

static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

/* <date>: YYYY-MM-DDTHH:MM:SSZ, a real day (plistlib's reading, its full form only). */
static int date_ok(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != sizeof shape - 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return -1;
    int y = num2(s) * 100 + num2(s + 2), mo = num2(s + 5), d = num2(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] + (mo == 2 && leap))
        return -1;
    return num2(s + 11) < 24 && num2(s + 14) < 60 && num2(s + 17) < 60 ? 0 : -1;
}

static int check_leaf(struct px *x, const node_t *nd)
{
    long long v;
    int big;
    switch (nd->type) {
    case T_INTEGER:
        return int_value(nd->s, nd->len, &v, &big) ? fail(x, "an <integer> that is no integer") : 0;
    case T_REAL:
        return real_ok(nd->s, nd->len) ? fail(x, "a <real> that is no number") : 0;
    case T_DATA:
        return data_ok(nd->s, nd->len) ? fail(x, "a <data> that is not base64") : 0;
    case T_DATE:
        return date_ok(nd->s, nd->len) ? fail(x, "a <date> not written YYYY-MM-DDTHH:MM:SSZ") : 0;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------
 * The job: Label, Disabled, Program(Arguments), LimitLoad*, Sockets */

static const node_t *N(const struct px *x, int i) { return &x->nv[i]; }

static int ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

static int key_eq(const node_t *a, const node_t *b, int fold)
{
    return a->len == b->len && (fold ? !strncasecmp(a->s, b->s, a->len) : !memcmp(a->s, b->s, a->len));
}

/* Some two keys of the dict are equal (ASCII case folded when fold). */
static int dict_dups(const struct px *x, int dict, int fold)
{
    int n = N(x, dict)->count / 2, dup = 0;
    if (n < 2)
        return 0;
    if (n <= 16) {
        for (int a = N(x, dict)->first; a >= 0 && !dup; a = N(x, N(x, a)->next)->next)
            for (int b = N(x, N(x, a)->next)->next; b >= 0 && !dup; b = N(x, N(x, b)->next)->next)
                dup = key_eq(N(x, a), N(x, b), fold);
        return dup;
    }
    size_t cap = 64;
    while (cap < (size_t)n * 2)
        cap *= 2;
    int *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return 1;
    memset(slot, 0xff, cap * sizeof *slot);
    for (int a = N(x, dict)->first; a >= 0 && !dup; a = N(x, N(x, a)->next)->next) {
        const node_t *k = N(x, a);
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < k->len; i++)
            h = (h ^ (unsigned char)(fold ? tolower((unsigned char)k->s[i]) : k->s[i])) * 1099511628211ull;
        size_t i = h & (cap - 1);
        for (; slot[i] >= 0 && !dup; i = (i + 1) & (cap - 1))
            dup = key_eq(N(x, slot[i]), k, fold);
        slot[i] = a;
    }
    free(slot);
    return dup;
}

#define EACH_PAIR(x, dict, k, v) \
    for (int k = N(x, dict)->first, v = k >= 0 ? N(x, k)->next : -1; k >= 0; \
         k = N(x, v)->next, v = k >= 0 ? N(x, k)->next : -1)

enum { K_LABEL, K_DISABLED, K_SOCKETS, K_PROGRAM, K_ARGUMENTS, K_INETD, K_COUNT };

struct job {
    int key[K_COUNT];    /* the value node of each key read here, or -1 */
    int limit;           /* a LimitLoad* key is there */
    const char *label;
};

/* The top-level keys read here, and the label; why the plist is skipped, or NULL. */
static const char *top_level(const struct px *x, int root, struct job *j)
{
    static const char *const names[] = {"label", "disabled", "sockets", "program", "programarguments",
                                        "inetdcompatibility"};
    const char *why = NULL;
    for (int i = 0; i < K_COUNT; i++)
        j->key[i] = -1;
    j->limit = 0, j->label = NULL;
    if (N(x, root)->type != T_DICT)
        return "not a dictionary at the top level";
    EACH_PAIR(x, root, k, v) {
        const node_t *kn = N(x, k);
        if (!ascii(kn->s, kn->len))
            why = "a top-level key that is not ASCII";
        for (int i = 0; i < K_COUNT; i++)
            if (ci_eq(kn->s, kn->len, names[i]))
                j->key[i] = v;
        if (ci_eq(kn->s, kn->len, "limitloadtohosts") || ci_eq(kn->s, kn->len, "limitloadfromhosts") ||
            ci_eq(kn->s, kn->len, "limitloadtosessiontype"))
            j->limit = 1;
    }
    if (!why && dict_dups(x, root, 1))
        why = "two top-level keys the same but for case";
    if (why)
        return why;
    if (j->key[K_LABEL] < 0 || N(x, j->key[K_LABEL])->type != T_STRING || !N(x, j->key[K_LABEL])->len)
        return "no Label string";
    j->label = N(x, j->key[K_LABEL])->s;
    return NULL;
}

/* What the manager's validation would refuse among the keys read here, or NULL. */
static const char *job_problem(const struct px *x, const struct job *j)
{
    const char *l = j->label;
    size_t ll = strlen(l);
    for (size_t i = 0; i < ll; i++)
        if ((unsigned char)l[i] < 0x20 || (unsigned char)l[i] >= 0x7f || l[i] == '"' || l[i] == '\\')
            return "a Label with '\"', '\\', a control character or a byte over 0x7f: left to the manager";
    if (ll > 1024)
        return "a Label over 1024 bytes: left to the manager";
    if (!strncasecmp(l, "com.apple.launchd", 17) || !strncasecmp(l, "com.apple.launchctl", 19))
        return "a reserved Label";
    if (j->limit)
        return "LimitLoadToHosts, LimitLoadFromHosts or LimitLoadToSessionType: left to the manager";
    int prog = j->key[K_PROGRAM], args = j->key[K_ARGUMENTS];
    if (prog >= 0 && (N(x, prog)->type != T_STRING || N(x, prog)->s[0] != '/'))
        return "Program is not an absolute path";
    if (args >= 0) {
        if (N(x, args)->type != T_ARRAY)
            return "ProgramArguments is not an array";
        for (int a = N(x, args)->first; a >= 0; a = N(x, a)->next)
            if (N(x, a)->type != T_STRING)
                return "ProgramArguments holds something other than strings";
    }
    if (prog < 0 && (args < 0 || N(x, args)->first < 0 || !N(x, N(x, args)->first)->len))
        return "neither Program nor a ProgramArguments array with a program";
    int inetd = j->key[K_INETD];  /* validate._inetd: a dict; Wait a boolean, Instances an integer */
    if (inetd >= 0 && N(x, inetd)->type != T_DICT)
        return "inetdCompatibility is not a dictionary";
    if (inetd >= 0)
        EACH_PAIR(x, inetd, k, v) {
            int t = N(x, v)->type;
            if ((ci_eq(N(x, k)->s, N(x, k)->len, "wait") && t != T_TRUE && t != T_FALSE) ||
                (ci_eq(N(x, k)->s, N(x, k)->len, "instances") && t != T_INTEGER))
                return "inetdCompatibility's Wait or Instances of the wrong type";
        }
    return NULL;
}

/* ------------------------------------------------------------------------
 * One socket dictionary (pylaunchd/socketkeys.py) */

struct sreq {
    int family;          /* AF_UNSPEC, AF_INET, AF_INET6; AF_UNIX */
    int v4v6, type, proto;
    const char *node, *service;
    const char *path;    /* AF_UNIX: SockPathName, as written */
    int mode;            /* AF_UNIX: the socket file's mode (SockPathMode, else 0700) */
    char port[24];       /* an integer SockServiceName, as str() writes it */
    const char *why;     /* why it is not pre-bound */
};

enum { S_BIND, S_SKIP, S_JOB };  /* bind it; leave this socket to the manager; leave the whole job */

static int choice(const node_t *v, const char *const *names, int n)
{
    if (v->type != T_STRING)
        return -1;
    for (int i = 0; i < n; i++)
        if (ci_eq(v->s, v->len, names[i]))
            return i;
    return -1;
}

static const char *const SOCKET_KEYS[] = {
    "socktype", "sockpassive", "sockfamily", "sockprotocol", "socknodename", "sockservicename", "sockpathname",
    "sockpathmode", "sockpathowner", "sockpathgroup", "securesocketwithkey", "multicastgroup", "bonjour", NULL};
enum { SK_TYPE, SK_PASSIVE, SK_FAMILY, SK_PROTOCOL, SK_NODE, SK_SERVICE, SK_PATH, SK_MODE, SK_OWNER, SK_GROUP,
       SK_SECURE, SK_MULTICAST, SK_BONJOUR, SK_COUNT };

/* Each key's type, as socketkeys.py's readers check it: 0 when right. */
static int wrong_type(const struct px *x, int key, int v)
{
    const node_t *n = N(x, v);
    long long i;
    int big;
    switch (key) {
    case SK_PASSIVE:
        return n->type != T_TRUE && n->type != T_FALSE;
    case SK_NODE: case SK_MULTICAST:
        return n->type != T_STRING;
    case SK_SERVICE:
        if (n->type == T_INTEGER)
            return int_value(n->s, n->len, &i, &big) || big || i < 0 || i > 65535;
        return n->type != T_STRING || !n->len;
    case SK_PATH:
        return n->type != T_STRING || !n->len || n->len > 107;
    case SK_MODE: case SK_OWNER: case SK_GROUP:
        if (n->type != T_INTEGER || int_value(n->s, n->len, &i, &big))
            return 1;
        return key == SK_MODE ? big || i < 0 || i > 0177777 : big ? n->s[strspn(n->s, " \t\n\r")] == '-' : i < 0;
    case SK_SECURE:
        return n->type != T_STRING || !n->len || memchr(n->s, '=', n->len);
    case SK_BONJOUR:
        if (n->type == T_ARRAY)
            for (int a = n->first; a >= 0; a = N(x, a)->next)
                if (N(x, a)->type != T_STRING)
                    return 1;
        return n->type != T_TRUE && n->type != T_FALSE && n->type != T_STRING && n->type != T_ARRAY;
    default:
        return 0;
    }
}

static int sock_keys(const struct px *x, int d, int *val, struct sreq *r)
{
    for (int i = 0; i < SK_COUNT; i++)
        val[i] = -1;
    if (N(x, d)->type != T_DICT)
        return r->why = "a socket that is not a dictionary", S_JOB;
    if (dict_dups(x, d, 1))
        return r->why = "two keys of a socket the same but for case", S_JOB;
    EACH_PAIR(x, d, k, v) {
        if (!ascii(N(x, k)->s, N(x, k)->len))
            return r->why = "a socket key that is not ASCII", S_JOB;
        for (int i = 0; SOCKET_KEYS[i]; i++)
            if (ci_eq(N(x, k)->s, N(x, k)->len, SOCKET_KEYS[i])) {
                if (wrong_type(x, i, v))
                    return r->why = "a socket key of the wrong type", S_JOB;
                val[i] = v;
            }
    }
    return S_BIND;
}

/* A numeric address of the family asked for (IPv4v6: an IPv4 one too). */
static int numeric_node(const char *node, int family, int v4v6)
{
    unsigned char a[16];
    if (family != AF_INET6 && inet_pton(AF_INET, node, a) == 1)
        return 1;
    if (family == AF_INET6 && v4v6 && inet_pton(AF_INET, node, a) == 1)
        return 1;
    return family != AF_INET && inet_pton(AF_INET6, node, a) == 1;
}

/* The directory of a unix socket's path is one (sockets._create_unix's first check;
 * the manager binds from "/"). */
static int unix_parent(const char *path)
{
    struct stat st;
    char *copy = join3("/", path, "");
    if (!copy)
        return 0;
    *strrchr(copy, '/') = 0;
    int ok = stat(*copy ? copy : "/", &st) == 0 && S_ISDIR(st.st_mode);
    free(copy);
    return ok;
}

/* An absolute path with no empty, "." or ".." component: the name getsockname
 * gives back, and the one the manager asks its sockets for, are the same. */
static int plain_path(const char *path, size_t len)
{
    if (path[0] != '/' || strlen(path) != len || path[len - 1] == '/')
        return 0;
    for (const char *c = path; c; c = strchr(c + 1, '/'))
        if (c[1] == '/' || (c[1] == '.' && (c[2] == '/' || !c[2] || (c[2] == '.' && (c[3] == '/' || !c[3])))))
            return 0;
    return 1;
}

/* A unix socket's request (socketkeys._reconcile: SockPathName makes it one, whatever else is set). */
static int read_unix(const struct px *x, const int *val, int type, struct sreq *r)
{
    const node_t *path = N(x, val[SK_PATH]);
    long long mode = 0700;
    int big;
    if (!unix_parent(path->s))
        return r->why = "a unix socket in a directory that does not exist (the manager refuses the job)", S_JOB;
    if (val[SK_PASSIVE] >= 0 && N(x, val[SK_PASSIVE])->type == T_FALSE)
        return r->why = "SockPassive false: the job is left to the manager", S_JOB;
    if (val[SK_OWNER] >= 0 || val[SK_GROUP] >= 0)
        return r->why = "SockPathOwner or SockPathGroup: left to the manager", S_SKIP;
    if (!plain_path(path->s, path->len))
        return r->why = "a unix socket path that is not absolute and plain (no //, . or ..): left to the manager",
               S_SKIP;
    if (val[SK_MODE] >= 0)
        int_value(N(x, val[SK_MODE])->s, N(x, val[SK_MODE])->len, &mode, &big);
    r->family = AF_UNIX, r->path = path->s, r->mode = (int)(mode & 07777);
    r->type = type == 0 ? SOCK_STREAM : type == 1 ? SOCK_DGRAM : SOCK_SEQPACKET;
    return S_BIND;
}

/* The socket's request, or why it is not made here (socketkeys._reconcile's rules). */
static int read_socket(const struct px *x, int d, struct sreq *r)
{
    static const char *const types[] = {"stream", "dgram", "seqpacket"};
    static const char *const families[] = {"ipv4", "ipv6", "ipv4v6", "unix"};
    static const char *const protocols[] = {"tcp", "udp"};
    int val[SK_COUNT], rc = sock_keys(x, d, val, r);
    if (rc != S_BIND)
        return rc;
    int type = val[SK_TYPE] >= 0 ? choice(N(x, val[SK_TYPE]), types, 3) : 0;
    int fam = val[SK_FAMILY] >= 0 ? choice(N(x, val[SK_FAMILY]), families, 4) : -2;
    int proto = val[SK_PROTOCOL] >= 0 ? choice(N(x, val[SK_PROTOCOL]), protocols, 2) : -2;
    if (type == -1 || fam == -1 || proto == -1)
        return r->why = "a SockType, SockFamily or SockProtocol the manager does not know", S_JOB;
    if (proto == 1 && type == 0)
        type = 1;  /* UDP: dgram */
    if (val[SK_MULTICAST] >= 0)
        return r->why = type == 1 ? "MulticastGroup: the job is left to the manager" :
                        "MulticastGroup on a socket that is not dgram", S_JOB;
    if (val[SK_SECURE] >= 0)
        return r->why = "SecureSocketWithKey: left to the manager", S_SKIP;
    if (val[SK_PATH] >= 0 && fam >= 0 && fam != 3)
        return r->why = "SockPathName with an inet SockFamily", S_JOB;
    if (val[SK_PATH] >= 0)
        return read_unix(x, val, type, r);
    if (fam == 3)
        return r->why = "SockFamily Unix without SockPathName", S_JOB;
    if (val[SK_SERVICE] < 0)
        return r->why = "no SockServiceName", S_JOB;
    if (val[SK_PASSIVE] >= 0 && N(x, val[SK_PASSIVE])->type == T_FALSE)
        return r->why = "SockPassive false: the job is left to the manager", S_JOB;
    r->type = type == 0 ? SOCK_STREAM : type == 1 ? SOCK_DGRAM : SOCK_SEQPACKET;
    r->family = fam < 0 ? AF_UNSPEC : fam == 0 ? AF_INET : AF_INET6;
    r->v4v6 = fam == 2;
    r->proto = proto == 0 ? IPPROTO_TCP : proto == 1 ? IPPROTO_UDP : 0;
    r->node = val[SK_NODE] >= 0 ? N(x, val[SK_NODE])->s : NULL;
    if (r->node && !numeric_node(r->node, r->family, r->v4v6))
        return r->why = "SockNodeName is not a numeric address of its family: the job is left to the manager",
               S_JOB;
    const node_t *svc = N(x, val[SK_SERVICE]);
    if (svc->type == T_INTEGER) {
        long long port;
        int big;
        int_value(svc->s, svc->len, &port, &big);
        snprintf(r->port, sizeof r->port, "%lld", port);
        r->service = r->port;
    } else {
        r->service = svc->s;
    }
    if (!ascii(r->service, strlen(r->service)))
        return r->why = "a SockServiceName that is not ASCII", S_JOB;
    size_t digits = strspn(r->service, "0123456789");
    if (digits && !r->service[digits] && strtoul(r->service, NULL, 10) == 0)
        return r->why = "port 0 (a port the kernel picks): the job is left to the manager", S_JOB;
    if (digits && !r->service[digits] && (digits > 5 || strtoul(r->service, NULL, 10) > 65535))
        return r->why = "a port over 65535", S_JOB;
    return S_BIND;
}

/* ------------------------------------------------------------------------
 * Binding (pylaunchd/sockets.py _create_inet, _numeric, _unique) */

static int *fds;             /* every socket bound, in order */
static size_t nfds, capfds;
/* For each of fds: the unix socket file made for it (NULL for inet), and that file's
 * identity, so that only our own file is ever removed (sockets._unlink_ours). */
static char **upaths;
static dev_t *udevs;
static ino_t *uinos;
static buf_t lines, joblines; /* list mode: the lines of the jobs done, of the job under way */

static const char *type_name(int type)
{
    return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : "seqpacket";
}

/* The socket of one address, bound and listening; -1 with errno (*made: socket() worked). */
static int make_socket(const struct addrinfo *ai, int v4v6, int *made)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), one = 1, v6only = !v4v6;
    *made = fd >= 0;
    if (fd < 0)
        return -1;
    if (fd >= fd_limit) {
        close(fd);
        errno = EMFILE;
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || (ai->ai_socktype != SOCK_DGRAM && listen(fd, backlog))) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* _numeric: getaddrinfo's answer for a numeric address and port, without the call. */
static int direct(const struct sreq *r, struct addrinfo *ai, struct sockaddr_storage *ss)
{
    int proto = r->type == SOCK_STREAM ? IPPROTO_TCP : r->type == SOCK_DGRAM ? IPPROTO_UDP : -1;
    size_t digits = strspn(r->service, "0123456789");
    if (!r->node || proto < 0 || (r->proto && r->proto != proto) || !digits || r->service[digits] || digits > 5)
        return 0;
    unsigned long port = strtoul(r->service, NULL, 10);
    struct in_addr a4;
    memset(ai, 0, sizeof *ai), memset(ss, 0, sizeof *ss);
    ai->ai_socktype = r->type, ai->ai_protocol = proto, ai->ai_addr = (struct sockaddr *)ss;
    if (r->family != AF_INET6 && inet_pton(AF_INET, r->node, &a4) == 1) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET, s4->sin_port = htons((uint16_t)port), s4->sin_addr = a4;
        ai->ai_family = AF_INET, ai->ai_addrlen = sizeof *s4;
        return 1;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6, s6->sin6_port = htons((uint16_t)port);
    ai->ai_family = AF_INET6, ai->ai_addrlen = sizeof *s6;
    if (r->family != AF_INET && inet_pton(AF_INET6, r->node, &s6->sin6_addr) == 1)
        return 1;
    if (r->family == AF_INET6 && r->v4v6 && inet_pton(AF_INET, r->node, &a4) == 1) {
        s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&s6->sin6_addr.s6_addr[12], &a4, 4);
        return 1;
    }
    return 0;
}

static int ai_port(const struct addrinfo *ai)
{
    return ai->ai_family == AF_INET ? ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port) :
           ntohs(((struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
}

/* Two answers of one getaddrinfo with the same family, address and port (_unique). */
static int same_address(const struct addrinfo *a, const struct addrinfo *b)
{
    if (a->ai_family != b->ai_family || ai_port(a) != ai_port(b))
        return 0;
    if (a->ai_family == AF_INET)
        return !memcmp(&((struct sockaddr_in *)a->ai_addr)->sin_addr, &((struct sockaddr_in *)b->ai_addr)->sin_addr,
                       4);
    return !memcmp(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr,
                   &((struct sockaddr_in6 *)b->ai_addr)->sin6_addr, 16);
}

static int grow(void)
{
    size_t cap = capfds ? capfds * 2 : 64;
    int *p = realloc(fds, cap * sizeof *p);
    if (p)
        fds = p;
    char **u = p ? realloc(upaths, cap * sizeof *u) : NULL;
    if (u)
        upaths = u;
    dev_t *d = u ? realloc(udevs, cap * sizeof *d) : NULL;
    if (d)
        udevs = d;
    ino_t *i = d ? realloc(uinos, cap * sizeof *i) : NULL;
    if (i)
        uinos = i, capfds = cap;
    return i ? 0 : -1;
}

static int keep(int fd, const struct sreq *r, const char *label)
{
    if (nfds == capfds && grow())
        return -1;
    upaths[nfds] = NULL;
    fds[nfds++] = fd;
    if (!list_mode)
        return 0;
    if (r->family == AF_UNIX)
        return buf_str(&joblines, label) || buf_str(&joblines, "\tUnix\t") ||
               buf_str(&joblines, type_name(r->type)) || buf_str(&joblines, "\t") ||
               buf_str(&joblines, r->path) || buf_str(&joblines, "\t0\n");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN], line[64];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) ||
        !inet_ntop(ss.ss_family, ss.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr :
                                 (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host))
        return -1;
    int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) :
               ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(line, sizeof line, "\t%s\t%s\t", ss.ss_family == AF_INET ? "IPv4" : "IPv6", type_name(r->type));
    char tail[16];
    snprintf(tail, sizeof tail, "\t%d\n", port);
    return buf_str(&joblines, label) || buf_str(&joblines, line) || buf_str(&joblines, host) ||
           buf_str(&joblines, tail);
}

/* The ports of the jobs left to the manager that it may load: a later job
 * asking for one of them is left to it too, so that a socket bound here
 * never takes the port of an earlier job the manager binds itself (say
 * localhost:80 before 0.0.0.0:80). */
static unsigned char reserved[65536 / 8];

static void reserve_port(unsigned long port)
{
    if (port > 0 && port < 65536)
        reserved[port / 8] |= (unsigned char)(1u << (port % 8));
}

static int is_reserved(int port) { return reserved[port / 8] & (1u << (port % 8)); }

static void reserve_socket(const struct px *x, int d)
{
    if (d < 0 || N(x, d)->type != T_DICT)
        return;
    EACH_PAIR(x, d, k, v) {
        const node_t *n = N(x, v);
        long long i;
        int big;
        if (!ci_eq(N(x, k)->s, N(x, k)->len, "sockservicename"))
            continue;
        if (n->type == T_INTEGER && !int_value(n->s, n->len, &i, &big) && !big)
            reserve_port(i >= 0 && i < 65536 ? (unsigned long)i : 0);
        if (n->type != T_STRING)
            continue;
        size_t digits = strspn(n->s, "0123456789");
        if (digits && !n->s[digits]) {
            reserve_port(digits <= 5 ? strtoul(n->s, NULL, 10) : 0);
            continue;
        }
        for (int p = 0; p < 2; p++) {
            struct servent *se = getservbyname(n->s, p ? "udp" : "tcp");
            if (se)
                reserve_port(ntohs((uint16_t)se->s_port));
        }
    }
}

/* Every port of every Sockets key of a plist that is not pre-bound. */
static void reserve_job(const struct px *x, int root)
{
    if (N(x, root)->type != T_DICT)
        return;
    EACH_PAIR(x, root, k, v) {
        if (!ci_eq(N(x, k)->s, N(x, k)->len, "sockets") || N(x, v)->type != T_DICT)
            continue;
        EACH_PAIR(x, v, name, entry) {
            (void)name;
            if (N(x, entry)->type == T_DICT)
                reserve_socket(x, entry);
            else if (N(x, entry)->type == T_ARRAY)
                for (int e = N(x, entry)->first; e >= 0; e = N(x, e)->next)
                    reserve_socket(x, e);
        }
    }
}

/* ------------------------------------------------------------------------
 * Unix sockets (pylaunchd/sockets.py _create_unix, _bind_unix; pylaunchd/safepath.py),
 * for the case this program can be sure of; anything else is left to the manager,
 * whose safepath walk decides (following root's symlinks, another user's ground,
 * stale files). */

static int trusted(uid_t uid) { return uid == 0 || uid == geteuid(); }

/* Remove the unix socket file at *path* if it is still the one bound (never a file that took its place). */
static void unlink_ours(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev && st.st_ino == ino)
        unlink(path);
}

/* The socket's directory, reached from "/" one component at a time without
 * following a symlink: every component root's or ours, and out of a directory
 * others may write only when it is sticky (so that only that owner may rename
 * or remove what is in it), the socket's own directory included. So nobody
 * else can redirect the path or move the file, and a bind by name lands where
 * it was checked. An O_PATH descriptor, or -1. */
static int safe_parent(const char *path)
{
    struct stat st;
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) || !trusted(st.st_uid)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    const char *p = path + 1, *end = strrchr(path, '/');
    while (p < end) {
        const char *slash = strchr(p, '/');
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        int shared = (st.st_mode & 022) != 0, sticky = (st.st_mode & S_ISVTX) != 0, next = -1;
        if (n <= NAME_MAX) {
            memcpy(comp, p, n), comp[n] = 0;
            next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
        }
        close(fd);
        if (next < 0 || fstat(next, &st) || !trusted(st.st_uid) || (shared && !sticky)) {
            if (next >= 0)
                close(next);
            return -1;
        }
        fd = next, p = slash + 1;
    }
    if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {  /* anyone could rename the socket file away */
        close(fd);
        return -1;
    }
    return fd;
}

/* The file just bound, its mode set through an O_PATH descriptor of it (fchmod
 * on the socket would change the socket, not its file): safepath.set_mode_owner. */
static int set_mode(int dfd, const char *base, const struct stat *bound, int mode)
{
    struct stat st;
    char proc[40];
    int f = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc = -1;
    if (f < 0)
        return -1;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f);
    if (!fstat(f, &st) && st.st_dev == bound->st_dev && st.st_ino == bound->st_ino)
        rc = chmod(proc, (mode_t)mode);
    close(f);
    return rc;
}

/* One unix socket bound and listening at a new file: 0, also when it is left to the
 * manager (a directory it must judge, a file already there, a failure: the manager
 * binds it, or says why it cannot); -1 only when out of memory. */
static int bind_unix(const struct sreq *r, const char *path, const char *where, const char *label)
{
    const char *base = strrchr(r->path, '/') + 1;
    struct sockaddr_un sa;
    struct stat st;
    int dfd = safe_parent(r->path), fd = -1, bound = 0, e = 0;
    if (dfd < 0) {
        note(path, "%s: %s: its directory is reached through a symlink, or is another user's, or others may "
                   "write there or on the way without a sticky bit: left to the manager", where, r->path);
        return 0;
    }
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
        note(path, "%s: %s exists: left to the manager (a stale socket is its to remove)", where, r->path);
        close(dfd);
        return 0;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, r->path, strlen(r->path));  /* at most 107 bytes (wrong_type) */
    mode_t old = umask(0777);  /* mode 0000 until it is set: no window */
    errno = 0;
    fd = socket(AF_UNIX, r->type, 0);
    if (fd >= fd_limit)
        close(fd), fd = -1, errno = EMFILE;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                                                   strlen(r->path) + 1)))
        bound = !fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) && S_ISSOCK(st.st_mode);
    if (!bound || set_mode(dfd, base, &st, r->mode) || (r->type != SOCK_DGRAM && listen(fd, backlog)))
        e = errno ? errno : EIO;
    umask(old);
    if (e) {
        note(path, "%s: cannot bind to %s here: %s: left to the manager", where, r->path, strerror(e));
        if (bound)
            unlink_ours(r->path, st.st_dev, st.st_ino);
        if (fd >= 0)
            close(fd);
        close(dfd);
        return 0;
    }
    close(dfd);
    char *copy = strdup(r->path);  /* r->path lives in the file's buffer, reused for the next plist */
    if (!copy || keep(fd, r, label)) {
        free(copy);
        unlink_ours(r->path, st.st_dev, st.st_ino);
        close(fd);
        return -1;
    }
    upaths[nfds - 1] = copy, udevs[nfds - 1] = st.st_dev, uinos[nfds - 1] = st.st_ino;
    return 0;
}

/* Every address of one socket dictionary, bound: 0, or -1 when the job fails. */
static int bind_request(const struct sreq *r, const char *path, const char *where, const char *label)
{
    struct addrinfo hints, one, *res = NULL, *list = &one;
    struct sockaddr_storage ss;
    if (r->family == AF_UNIX)
        return bind_unix(r, path, where, label);
    if (!direct(r, &one, &ss)) {
        memset(&hints, 0, sizeof hints);
        hints.ai_family = r->family, hints.ai_socktype = r->type, hints.ai_protocol = r->proto;
        hints.ai_flags = AI_PASSIVE | (r->node ? AI_NUMERICHOST : 0) | (r->v4v6 ? AI_V4MAPPED : 0);
        int rc = getaddrinfo(r->node, r->service, &hints, &res);
        if (rc == EAI_SERVICE && r->service[strspn(r->service, "0123456789")]) {
            note(path, "%s: SockServiceName \"%s\" is no service of /etc/services: left to the manager", where,
                 r->service);
            return 0;  /* the manager loads the job without it (sockets.UnknownService) */
        }
        if (rc) {
            note(path, "%s: cannot resolve %s:%s: %s", where, r->node ? r->node : "*", r->service, gai_strerror(rc));
            return -1;
        }
        list = res;
    }
    int made = 0, rc = 0;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next)
        if (ai_port(ai) == 0) {
            note(path, "%s: port 0: the job is left to the manager", where);
            rc = -1;
            goto out;
        }
    for (struct addrinfo *ai = list; ai && !rc; ai = ai->ai_next)
        if (is_reserved(ai_port(ai))) {
            note(path, "%s: port %d is an earlier job's, left to the manager", where, ai_port(ai));
            rc = -1;
        }
    for (struct addrinfo *ai = list; ai && !rc; ai = ai->ai_next) {
        int seen = 0, created;
        for (struct addrinfo *b = list; b != ai && !seen; b = b->ai_next)
            seen = same_address(b, ai);
        if (seen)
            continue;
        int fd = make_socket(ai, r->v4v6, &created);
        if (fd < 0 && r->family == AF_UNSPEC && ((!created && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) ||
                                                 (created && errno == EADDRNOTAVAIL && !r->node)))
            continue;  /* a family the machine lacks, when none was asked for */
        if (fd < 0) {
            note(path, "%s: cannot bind to %s:%s: %s", where, r->node ? r->node : "*", r->service, strerror(errno));
            rc = -1;
        } else if (keep(fd, r, label)) {
            close(fd);
            rc = -1;
        } else {
            made++;
        }
    }
    if (!rc && !made) {
        note(path, "%s: no socket could be created", where);
        rc = -1;
    }
out:
    if (res)
        freeaddrinfo(res);
    return rc;
}

/* Each socket dictionary of a group; the group's entry must be a dict or a non-empty array of them. */
static int each_socket(const struct px *x, int entry, int (*fn)(const struct px *, int, int, void *), void *arg)
{
    const node_t *e = N(x, entry);
    if (e->type == T_DICT)
        return fn(x, entry, -1, arg);
    if (e->type != T_ARRAY || e->first < 0)
        return fn(x, -1, -1, arg);
    int i = 0, rc = 0;
    for (int d = e->first; d >= 0 && !rc; d = N(x, d)->next, i++)
        rc = fn(x, d, e->count > 1 ? i : -1, arg);
    return rc;
}

struct walk {
    const char *path, *label, *group;
    int bind;      /* 0: the first pass, checking every socket; 1: binding */
};

static int one_socket(const struct px *x, int d, int index, void *arg)
{
    struct walk *w = arg;
    struct sreq r;
    char where[160];
    snprintf(where, sizeof where, index >= 0 ? "socket \"%.100s\" [%d]" : "socket \"%.100s\"", w->group, index);
    memset(&r, 0, sizeof r);
    int rc = d < 0 ? (r.why = "a socket entry that is neither a dictionary nor a non-empty array", S_JOB) :
             read_socket(x, d, &r);
    if (rc == S_JOB) {
        note(w->path, "%s: %s", where, r.why);
        return -1;
    }
    if (!w->bind)
        return 0;
    if (rc == S_SKIP) {
        note(w->path, "%s: %s", where, r.why);
        return 0;
    }
    return bind_request(&r, w->path, where, w->label);
}

/* The job's Sockets: every socket checked, then the inet ones bound; -1 when the job fails. */
static int bind_sockets(const struct px *x, int socks, const char *path, const char *label)
{
    struct walk w = {path, label, NULL, 0};
    if (N(x, socks)->type != T_DICT || dict_dups(x, socks, 0)) {
        note(path, "Sockets is not a dictionary, or names a socket twice");
        return -1;
    }
    for (w.bind = 0; w.bind < 2; w.bind++)
        EACH_PAIR(x, socks, k, v) {
            w.group = N(x, k)->s;
            if (!N(x, k)->len || memchr(N(x, k)->s, ':', N(x, k)->len)) {
                note(path, "a socket name that is empty or has ':'");
                return -1;
            }
            if (each_socket(x, v, one_socket, &w))
                return -1;
        }
    return 0;
}

/* Every string value of a top-level Label key (any case): labels the manager may load. */
static int remember_labels(const struct px *x, int root, sset_t *seen)
{
    if (N(x, root)->type != T_DICT)
        return 0;
    EACH_PAIR(x, root, k, v)
        if (ci_eq(N(x, k)->s, N(x, k)->len, "label") && N(x, v)->type == T_STRING &&
            sset_add(seen, N(x, v)->s, N(x, v)->len))
            return -1;
    return 0;
}

static void drop_job(size_t first_fd)
{
    while (nfds > first_fd) {
        close(fds[--nfds]);
        if (upaths[nfds]) {
            unlink_ours(upaths[nfds], udevs[nfds], uinos[nfds]);
            free(upaths[nfds]);
        }
    }
    joblines.len = 0;
}

/* One parsed plist: its sockets bound, or why not. -1: out of memory. */
static int do_job(const struct px *x, int root, const char *path, sset_t *seen, const sset_t *overrides)
{
    struct job j;
    const char *why = top_level(x, root, &j);
    if (!why && sset_has(seen, j.label, strlen(j.label)))
        why = "the Label of an earlier plist: left to the manager";
    if (!why && sset_has(overrides, j.label, strlen(j.label)))
        why = "named in overrides.json: left to the manager";
    int dis = j.key[K_DISABLED];
    if (!why && dis >= 0 && N(x, dis)->type != T_TRUE && N(x, dis)->type != T_FALSE)
        why = "Disabled is not a boolean";
    if (!why && dis >= 0 && N(x, dis)->type == T_TRUE) {
        note(path, "Disabled");
        return 0;  /* the manager will not load it: its label is free for a later plist */
    }
    if (remember_labels(x, root, seen))
        return -1;
    if (!why)
        why = job_problem(x, &j);
    if (why) {
        note(path, "%s", why);
        reserve_job(x, root);
        return 0;
    }
    if (j.key[K_SOCKETS] < 0)
        return 0;
    size_t first = nfds;
    joblines.len = 0;
    if (bind_sockets(x, j.key[K_SOCKETS], path, j.label)) {
        drop_job(first);
        reserve_job(x, root);
        return 0;
    }
    return joblines.len && buf_add(&lines, joblines.p, joblines.len) ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * 6. The job directories */

struct run {
    buf_t file;
    struct px x;
    sset_t seen, overrides;
};

static const char *check_file(int fd, struct stat *st)
{
    if (fstat(fd, st))
        return "cannot stat";
    if (!S_ISREG(st->st_mode))
        return "not a regular file";
    if (st->st_uid != 0 && (st->st_uid != getuid() || st->st_uid != geteuid()))
        return "owned by another user";
    if (st->st_mode & 022)
        return "group- or world-writable";
    if (st->st_size > (off_t)MAX_PLIST)
        return "over 4 MiB";
    return NULL;
}

static int do_file(struct run *run, int dfd, const char *name, const char *path)
{
    struct stat st;
    const char *why = NULL;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        why = "cannot open";
    else if (!(why = check_file(fd, &st)) && read_all(fd, (size_t)st.st_size, MAX_PLIST, &run->file) < 0)
        why = "cannot be read, or is over 4 MiB";
    if (fd >= 0)
        close(fd);
    if (!why && run->file.len >= 6 && !memcmp(run->file.p, "bplist", 6))
        why = "a binary plist: left to the manager";
    if (!why && xml_chars((const unsigned char *)run->file.p, run->file.len))
        why = "bytes that are not UTF-8 XML characters";
    if (why) {
        note(path, "%s", why);
        return 0;
    }
    struct px *x = &run->x;
    x->p = run->file.p, x->end = run->file.p + run->file.len;
    x->n = 0, x->depth = 0, x->err = NULL;
    int root = parse_plist(x);
    if (root < 0) {
        note(path, "not read: %s", x->err ? x->err : "malformed");
        return 0;
    }
    return do_job(x, root, path, &run->seen, &run->overrides);
}

static int plist_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && l >= 6 && !strcasecmp(n + l - 6, ".plist");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* plist.plists_in: the names sorted (str order = UTF-8 byte order), each read. */
static int do_dir(struct run *run, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!plist_name(e->d_name))
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!p) {
                rc = -1;
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    qsort(names, n, sizeof *names, by_name);
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < n; i++) {
        char *path = join3(dir, sep, names[i]);
        if (!path || xml_chars((const unsigned char *)names[i], strlen(names[i])))
            note(path ? path : names[i], "a name that is not UTF-8: left to the manager");
        else if (!rc)
            rc = do_file(run, dirfd(d), names[i], path);
        free(path);
        free(names[i]);
    }
    free(names);
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------------------
 * 8-9. The whole run, and the exec */

/* Standard descriptors closed at the start are held on /dev/null (close-on-exec) while
 * binding: no socket becomes the manager's stdin, stdout or stderr. */
static int hold_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR | O_CLOEXEC) != fd)
            return -1;
    return 0;
}

/* Steps 1-7: every socket bound, or none (when unsure, or on running out of memory). */
static void prebind(int argc, char **argv)
{
    struct opts o;
    struct domain d;
    struct run run;
    const char *why = NULL;
    memset(&o, 0, sizeof o), memset(&d, 0, sizeof d), memset(&run, 0, sizeof run);
    const char *reexec = getenv("PYLAUNCHD_REEXEC"), *mode = getenv("PYLAUNCHD_PREBIND");
    if (reexec && *reexec)
        why = "PYLAUNCHD_REEXEC is set: the sockets are handed over";
    else if (mode && !strcmp(mode, "0"))
        why = "PYLAUNCHD_PREBIND=0";
    else if (hold_stdio())
        why = "a standard descriptor closed, and no /dev/null";
    else if (parse_options(argc, argv, &o))
        why = "a command line left to the manager";
    else if (make_domain(&o, &d))
        why = "a domain whose directories are unsure (~user, no $HOME)";
    else if (manager_running(d.control))
        why = "another manager holds the control socket's lock";
    if (why) {
        note(d.control ? d.control : "command line", "%s: nothing is pre-bound", why);
        return;
    }
    const char *owhy = NULL;
    if (load_overrides(d.state, &run.overrides, &owhy))
        return;
    backlog = read_backlog();
    struct rlimit rl;
    /* Python opens its modules, the control socket, the lock, the watcher after the exec */
    fd_limit = getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX :
               (long)rl.rlim_cur - (rl.rlim_cur > 1024 ? 256 : (long)rl.rlim_cur / 2);
    for (int i = 0; i < d.ndirs; i++)
        if (do_dir(&run, d.dirs[i])) {
            note(d.dirs[i], "out of memory: nothing is pre-bound");
            drop_job(0);
            lines.len = 0;
            return;
        }
    /* what was allocated is left to the exec (or exit), which frees it all at once */
}

static char *find_manager(const char *argv0)
{
    char *self = realpath("/proc/self/exe", NULL);
    if (!self && strchr(argv0, '/'))
        self = realpath(argv0, NULL);
    if (!self)
        return strdup(MANAGER);
    char *slash = strrchr(self, '/');
    slash[1] = 0;
    char *path = join3(self, MANAGER, "");
    free(self);
    return path;
}

static int executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int main(int argc, char **argv)
{
    const char *mode = getenv("PYLAUNCHD_PREBIND");
    char *manager = NULL;
    list_mode = mode && !strcmp(mode, "list");
    if (!list_mode) {
        manager = find_manager(argc > 0 ? argv[0] : "");
        if (!manager || !executable(manager)) {
            fprintf(stderr, "pylaunchd: cannot find %s (the Python manager, installed beside this command): "
                            "reinstall pylaunchd\n", manager ? manager : MANAGER);
            return 127;
        }
    }
    unsetenv(ENV_PREBOUND);  /* never one a parent left: only what is bound here */
    if (argc > 0)
        prebind(argc, argv);
    if (list_mode) {
        fwrite(lines.p ? lines.p : "", 1, lines.len, stdout);
        drop_job(0);
        return fflush(stdout) ? 1 : 0;
    }
    buf_t env = {0};
    for (size_t i = 0; i < nfds; i++) {
        char num[16];
        snprintf(num, sizeof num, i ? ",%d" : "%d", fds[i]);
        if (buf_str(&env, num)) {
            drop_job(0);  /* out of memory: the manager binds everything itself */
            break;
        }
    }
    if (nfds && setenv(ENV_PREBOUND, env.p, 1))
        drop_job(0);
    char *self = realpath("/proc/self/exe", NULL);
    if (self)
        setenv("PYLAUNCHD_FRONT_END", self, 1);  /* for pylaunchd --version; the manager takes it out */
    char *fallback[] = {manager, NULL};
    char **args = argc > 0 ? argv : fallback;
    args[0] = manager;
    execv(manager, args);
    int e = errno;
    drop_job(0);  /* its unix socket files with it */
    fprintf(stderr, "pylaunchd: cannot execute %s: %s\n", manager, strerror(e));
    return 127;
}
