/* test_config.c — leptond's settings: a config file, flags over it, defaults, and clear errors
 * for bad values. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static int parse(lp_agent_config *c, char *err, size_t n, int argc, const char **argv) {
    return lp_agent_config_parse(c, argc, (char **)argv, err, n);
}

#define ARGS(...)                                                                                            \
    (sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), (const char *[]) { __VA_ARGS__ }

int main(void) {
    lp_agent_config c;
    char err[1024];
    unsetenv("LEPTON_NODE_TOKEN");

    /* flags only, with defaults */
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--broker", "http://b:7700/", "--token", "t1")),
                 0);
    CHECK(!strcmp(c.broker, "http://b:7700"));
    CHECK(!strcmp(c.token, "t1"));
    CHECK(!strcmp(c.listen, "127.0.0.1:7710"));
    CHECK(!strcmp(c.state_dir, "/tmp/leptond-7710"));
    CHECK_EQ_INT(c.ngpus, 0);
    CHECK(c.price == 0);
    CHECK(c.name[0] != 0);

    /* a file, then flags over it (wherever --config appears) */
    char path[] = "/tmp/leptond-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "# leptond settings\n"
                       "broker = https://broker.example:7700\n"
                       "token = \"lpn_file\"\n"
                       "  listen   =  0.0.0.0:9000  \n"
                       "price = 2.5\n"
                       "gpus = 1, 0\n"
                       "cuda_library = /opt/libcuda.so.1\n"
                       "state-dir = /var/lib/leptond\n"
                       "name = gpu-host-1\n"
                       "\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK_EQ_INT(
        parse(&c, err, sizeof err, ARGS("leptond", "--price=3.75", "--config", path, "--name", "n2")), 0);
    CHECK(!strcmp(c.broker, "https://broker.example:7700"));
    CHECK(!strcmp(c.token, "lpn_file"));
    CHECK(!strcmp(c.listen, "0.0.0.0:9000"));
    CHECK(c.price == 3.75);
    CHECK_EQ_INT(c.ngpus, 2);
    CHECK_EQ_INT(c.gpus[0], 1);
    CHECK_EQ_INT(c.gpus[1], 0);
    CHECK(!strcmp(c.cuda_library, "/opt/libcuda.so.1"));
    CHECK(!strcmp(c.state_dir, "/var/lib/leptond"));
    CHECK(!strcmp(c.name, "n2"));

    /* the token from the environment */
    setenv("LEPTON_NODE_TOKEN", "from-env", 1);
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--broker", "http://b:1")), 0);
    CHECK(!strcmp(c.token, "from-env"));
    unsetenv("LEPTON_NODE_TOKEN");

    /* the job queue bound of the workers */
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--broker", "http://b:1", "--token", "t")), 0);
    CHECK(c.job_queue_bytes == 0); /* the worker's default */
    CHECK_EQ_INT(
        parse(&c, err, sizeof err,
              ARGS("leptond", "--broker", "http://b:1", "--token", "t", "--job-queue-bytes", "1048576")),
        0);
    CHECK(c.job_queue_bytes == 1048576);
    CHECK_CONTAINS(lp_agent_usage(), "--job-queue-bytes");

    /* --help */
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--help")), 1);
    CHECK_CONTAINS(lp_agent_usage(), "Example");

    /* bad values, each named in the message */
    struct {
        const char *flag, *value, *expect;
    } bad[] = {
        {"--price", "-1", "price"},
        {"--price", "abc", "price"},
        {"--price", "nan", "price"},
        {"--listen", "nowhere", "listen"},
        {"--listen", "h:0", "listen"},
        {"--listen", "h:70000", "listen"},
        {"--gpus", "0,0", "twice"},
        {"--gpus", "a", "gpus"},
        {"--gpus", "1,", "gpus"},
        {"--broker", "ftp://x", "broker"},
        {"--name", "bad name", "name"},
        {"--log-level", "loud", "log-level"},
        {"--colour", "blue", "unknown"},
        {"--job-queue-bytes", "1000", "job-queue-bytes"},
        {"--job-queue-bytes", "-5", "job-queue-bytes"},
        {"--job-queue-bytes", "12x", "job-queue-bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_EQ_INT(
            parse(&c, err, sizeof err,
                  ARGS("leptond", "--broker", "http://b:1", "--token", "t", bad[i].flag, bad[i].value)),
            -1);
        CHECK_CONTAINS(err, bad[i].expect);
    }
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--token", "t")), -1);
    CHECK_CONTAINS(err, "broker");
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--broker", "http://b:1")), -1);
    CHECK_CONTAINS(err, "token");
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--broker")), -1);
    CHECK_CONTAINS(err, "needs a value");
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "stray")), -1);
    CHECK_CONTAINS(err, "stray");
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--config", "/nonexistent/leptond.conf")), -1);
    CHECK_CONTAINS(err, "/nonexistent/leptond.conf");

    /* a bad file line names the file and the line */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char *badtext = "broker = http://b:1\ntoken = t\nprice = cheap\n";
    CHECK(write(fd, badtext, strlen(badtext)) == (ssize_t)strlen(badtext));
    close(fd);
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--config", path)), -1);
    CHECK_CONTAINS(err, ":3:");
    CHECK_CONTAINS(err, "price");
    fd = open(path, O_WRONLY | O_TRUNC);
    const char *noeq = "broker http://b:1\n";
    CHECK(write(fd, noeq, strlen(noeq)) == (ssize_t)strlen(noeq));
    close(fd);
    CHECK_EQ_INT(parse(&c, err, sizeof err, ARGS("leptond", "--config", path)), -1);
    CHECK_CONTAINS(err, ":1:");
    unlink(path);
    return check_done("unit.agent.config");
}
