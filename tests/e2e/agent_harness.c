/* agent_harness.c — see agent_harness.h. Agents are started with fork/exec and always reaped. */
#include "agent_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LEPTON_LEPTOND_BIN
#error "LEPTON_LEPTOND_BIN must name the leptond executable"
#endif
#ifndef LEPTON_TEST_DEFAULT_CUDA
#error "LEPTON_TEST_DEFAULT_CUDA must name the CPU driver (cudaemu's libcuda.so.1)"
#endif
#ifndef LEPTON_TEST_DEFAULT_PTX_DIR
#error "LEPTON_TEST_DEFAULT_PTX_DIR must name tests/kernels/ptx"
#endif

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *a_cuda_library(void) { return env_or("LEPTON_TEST_CUDA_LIBRARY", LEPTON_TEST_DEFAULT_CUDA); }
const char *a_ptx_arch(void) { return env_or("LEPTON_TEST_PTX_ARCH", "sm_75"); }
const char *a_ptx_dir(void) { return env_or("LEPTON_TEST_PTX_DIR", LEPTON_TEST_DEFAULT_PTX_DIR); }

int a_is_emulator(void) { return strcmp(a_cuda_library(), LEPTON_TEST_DEFAULT_CUDA) == 0; }

char *a_load_ptx(const char *kernel, size_t *size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.ptx", a_ptx_dir(), kernel, a_ptx_arch());
    char *text = tc_read_file(path, size);
    if (!text) fprintf(stderr, "agent_harness: cannot read %s: %s\n", path, strerror(errno));
    return text;
}

void a_become_subreaper(void) { prctl(PR_SET_CHILD_SUBREAPER, 1); }

/* The "state" letter and parent of /proc/PID/stat, or 0. */
static char proc_state(pid_t pid, pid_t *ppid, char *comm, size_t comm_size) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (!open_p || !close_p || close_p[1] == '\0') return 0;
    if (comm) {
        size_t l = (size_t)(close_p - open_p - 1);
        if (l >= comm_size) l = comm_size - 1;
        memcpy(comm, open_p + 1, l);
        comm[l] = '\0';
    }
    char st = 0;
    int pp = 0;
    if (sscanf(close_p + 2, "%c %d", &st, &pp) != 2) return 0;
    if (ppid) *ppid = pp;
    return st;
}

int a_pid_alive(pid_t pid) {
    if (pid <= 0) return 0;
    char st = proc_state(pid, NULL, NULL, 0);
    return st != 0 && st != 'Z' && st != 'X';
}

int a_worker_exists(pid_t pid) {
    if (pid <= 0) return 0;
    char comm[64] = "";
    char st = proc_state(pid, NULL, comm, sizeof comm);
    return st != 0 && strstr(comm, "lepton-worker") != NULL;
}

void a_reap_orphans(void) {
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        pid_t ppid = 0;
        char comm[64];
        char st = proc_state(pid, &ppid, comm, sizeof comm);
        if (ppid == self && st == 'Z' && strstr(comm, "lepton-worker")) waitpid(pid, NULL, WNOHANG);
    }
    closedir(d);
}

pid_t a_port_owner(int port) {
    /* the socket inode of the listener: /proc/net/tcp, state 0A (LISTEN), local 0100007F:PORT */
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return -1;
    char line[512];
    unsigned long inode = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned lport = 0, st = 0;
        unsigned long ino = 0;
        char local[64];
        if (sscanf(line, " %*d: %63[0-9A-Fa-f:] %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &ino) != 3)
            continue;
        char *colon = strchr(local, ':');
        if (!colon || sscanf(colon + 1, "%x", &lport) != 1) continue;
        if ((int)lport == port && st == 0x0A) {
            inode = ino;
            break;
        }
    }
    fclose(f);
    if (!inode) return -1;
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    pid_t found = -1;
    struct dirent *e;
    while (d && found < 0 && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char fddir[64];
        snprintf(fddir, sizeof fddir, "/proc/%d/fd", (int)pid);
        DIR *fd = opendir(fddir);
        struct dirent *fe;
        while (fd && found < 0 && (fe = readdir(fd))) {
            char link[320], target[128];
            snprintf(link, sizeof link, "%s/%s", fddir, fe->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            if (!strcmp(target, want)) found = pid;
        }
        if (fd) closedir(fd);
    }
    if (d) closedir(d);
    return found;
}

int a_http(const char *base, const char *method, const char *path, const char *token,
           const char *content_type, const void *body, size_t body_len, h_resp *out) {
    h_broker fake;
    memset(&fake, 0, sizeof fake);
    snprintf(fake.url, sizeof fake.url, "%s", base);
    return h_http(&fake, method, path, token, content_type, (const char *)body, body_len, out);
}

static json_t *health(a_agent *a) {
    h_resp r;
    if (a_http(a->url, "GET", "/healthz", NULL, NULL, NULL, 0, &r) != 0) return NULL;
    json_t *j = NULL;
    if (r.status == 200 && r.json) j = json_incref(r.json);
    h_resp_free(&r);
    return j;
}

int a_agent_slots(a_agent *a, a_slot *slots, int n) {
    json_t *j = health(a);
    if (!j) return -1;
    json_t *gpus = json_object_get(j, "gpus");
    int count = (int)json_array_size(gpus);
    for (int i = 0; i < count && i < n; i++) {
        json_t *g = json_array_get(gpus, (size_t)i);
        memset(&slots[i], 0, sizeof slots[i]);
        slots[i].worker_pid = (pid_t)json_integer_value(json_object_get(g, "worker_pid"));
        slots[i].restarts = (int)json_integer_value(json_object_get(g, "restarts"));
        snprintf(slots[i].state, sizeof slots[i].state, "%s",
                 json_string_value(json_object_get(g, "state")) ?: "");
        snprintf(slots[i].lease, sizeof slots[i].lease, "%s",
                 json_string_value(json_object_get(g, "lease")) ?: "");
    }
    json_decref(j);
    return count;
}

pid_t a_wait_worker(a_agent *a, int gpu, pid_t not_pid, int timeout_ms) {
    double until = tc_now_ms() + timeout_ms;
    do {
        a_slot s[A_MAX_GPUS];
        int n = a_agent_slots(a, s, A_MAX_GPUS);
        if (gpu < n && s[gpu].worker_pid > 0 && s[gpu].worker_pid != not_pid &&
            !strcmp(s[gpu].state, "running") && tc_port_open(a->port + 1 + gpu))
            return s[gpu].worker_pid;
        tc_sleep_ms(20);
    } while (tc_now_ms() < until);
    return -1;
}

/* 1 once the agent says it is registered (a->gpus: the GPUs it offers). */
static int agent_registered(void *arg) {
    a_agent *a = arg;
    json_t *j = tc_port_open(a->port) ? health(a) : NULL;
    if (!j) return 0;
    int reg = json_is_true(json_object_get(j, "registered"));
    a->gpus = (int)json_array_size(json_object_get(j, "gpus"));
    json_decref(j);
    return reg;
}

int a_agent_start(a_agent *a, h_broker *b, const char *node_token, const char *name, int gpus, double price) {
    memset(a, 0, sizeof *a);
    a_become_subreaper();
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->dir, sizeof a->dir, "%.250s/agent-%.60s", b->dir, name);
    if (mkdir(a->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "agent_harness: mkdir %s: %s\n", a->dir, strerror(errno));
        return -1;
    }
    snprintf(a->log, sizeof a->log, "%s/leptond.log", a->dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        /* the agent, its workers (up to 15 GPUs) */
        int port = tc_free_ports(16);
        if (port < 0) {
            fprintf(stderr, "agent_harness: no free ports\n");
            return -1;
        }
        a->port = port;
        snprintf(a->url, sizeof a->url, "http://127.0.0.1:%d", port);
        char listen[64], price_s[32], state[400], devices[512];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        snprintf(price_s, sizeof price_s, "%.6f", price);
        snprintf(state, sizeof state, "%s/state", a->dir);
        devices[0] = '\0';
        for (int i = 0; i < gpus; i++) {
            size_t used = strlen(devices);
            /* The name is part of the emulated GPU's UUID: agents must differ. */
            snprintf(devices + used, sizeof devices - used, "%sLepton Emu %s:4G", i ? ";" : "", name);
        }
        char *argv[] = {(char *)LEPTON_LEPTOND_BIN,
                        "--broker",
                        b->url,
                        "--token",
                        (char *)node_token,
                        "--listen",
                        listen,
                        "--price",
                        price_s,
                        "--cuda-library",
                        (char *)a_cuda_library(),
                        "--name",
                        a->name,
                        "--state-dir",
                        state,
                        "--log-level",
                        "info",
                        NULL};
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            /* A test process that dies (an abort, a sanitizer report) must not leave its server behind. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            if (a_is_emulator()) { /* a real driver offers what it finds */
                setenv("CUDAEMU_DEVICES", devices, 1);
                unsetenv("CUDAEMU_DEVICE_COUNT");
            }
            execv(argv[0], argv);
            _exit(127);
        }
        a->pid = pid;
        int ready = tc_proc_wait_ready(pid, agent_registered, a, 15000);
        if (ready == 0) return 0;
        a->pid = 0; /* reaped */
        if (ready == -1) {
            fprintf(stderr, "agent_harness: leptond %s not registered after 15 s (see %s)\n", name, a->log);
            a_reap_orphans();
            return -1;
        }
        fprintf(stderr, "agent_harness: leptond %s exited at start (port %d taken?); see %s\n", name, port,
                a->log);
    }
    return -1;
}

int a_agent_stop(a_agent *a) {
    if (a->pid <= 0) return -1;
    char what[96];
    snprintf(what, sizeof what, "agent_harness: leptond %s", a->name);
    int status = tc_proc_stop(a->pid, what, 8000);
    a->pid = 0;
    a_reap_orphans();
    return status;
}

void a_agent_kill(a_agent *a) {
    if (a->pid <= 0) return;
    tc_proc_kill(a->pid);
    a->pid = 0;
    a_reap_orphans();
}

void a_agent_cleanup(a_agent *a) {
    if (a->pid > 0) a_agent_stop(a);
    /* Workers orphaned by a killed agent end on their parent-death signal; reap them. */
    for (int i = 0; i < 50; i++) {
        a_reap_orphans();
        int any = 0;
        for (int g = 0; g < a->gpus; g++)
            any |= tc_port_open(a->port + 1 + g);
        if (!any) break;
        tc_sleep_ms(100);
    }
}

void a_finish(h_broker *b) {
    h_broker_stop(b);
    a_reap_orphans();
    if (check_failures) {
        fprintf(stderr, "logs kept in %s (broker.log, agent-*/leptond.log)\n", b->dir);
        setenv("LEPTON_KEEP_TEST_DIRS", "1", 1);
    }
    h_broker_cleanup(b);
}
