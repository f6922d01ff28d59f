/* test_cli_words.c — the command line's pieces that need no broker: the PTX signature reader of
 * `lepton run` and the worker's kernel list (src/common/ptx_text.c), the message rewriting into the user's
 * words (cli_flag_words, the one way cli_fail says things), GPU-second(s), times with their zone, and the log
 * levels (src/common/log.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "log.h"
#include "ptx_text.h"

static const char PTX[] = "//\n// Generated\n.version 8.0\n.target sm_75\n.address_size 64\n"
                          "/* .entry commented_out( .param .u32 x ) */\n"
                          ".visible .entry saxpy(\n"
                          "\t.param .u32 saxpy_param_0,\n"
                          "\t.param .f32 saxpy_param_1,\n"
                          "\t.param .u64 .ptr .global .align 4 saxpy_param_2,\n"
                          "\t.param .u64 saxpy_param_3\n"
                          ")\n{\n\tret;\n}\n"
                          ".visible .entry agg(\n"
                          "\t.param .align 8 .b8 agg_param_0[16], // a struct by value\n"
                          "\t.param .s16 agg_param_1,\n"
                          "\t.param .f64 agg_param_2\n"
                          ")\n{\n\tret;\n}\n"
                          ".entry noparams\n{\n\tret;\n}\n";

static void test_signature(void) {
    lp_ptx_param *p = NULL;
    size_t n = 0;
    char err[256];
    CHECK_EQ_INT(lp_ptx_signature(PTX, sizeof PTX - 1, "saxpy", &p, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_STR(p[0].name, "saxpy_param_0");
        CHECK_STR(p[0].type, "u32");
        CHECK_EQ_INT(p[0].kind, 'u');
        CHECK_EQ_INT(p[0].size, 4);
        CHECK_STR(p[1].type, "f32");
        CHECK_EQ_INT(p[1].kind, 'f');
        CHECK_STR(p[2].type, "u64"); /* .ptr .global .align do not hide the type */
        CHECK_STR(p[2].name, "saxpy_param_2");
        CHECK_EQ_INT(p[2].size, 8);
    }
    free(p);
    CHECK_EQ_INT(lp_ptx_signature(PTX, sizeof PTX - 1, "agg", &p, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_STR(p[0].name, "agg_param_0");
        CHECK_EQ_INT(p[0].count, 16);
        CHECK_EQ_INT(p[0].size, 16);
        CHECK_EQ_INT(p[0].kind, 0); /* an aggregate: bytes, not a number */
        CHECK_STR(p[1].type, "s16");
        CHECK_EQ_INT(p[1].kind, 's');
        CHECK_EQ_INT(p[1].size, 2);
        CHECK_EQ_INT(p[2].size, 8);
    }
    free(p);
    CHECK_EQ_INT(lp_ptx_signature(PTX, sizeof PTX - 1, "noparams", &p, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 0);
    free(p);
    /* a kernel it lacks (the commented-out one too): the message lists those it has */
    CHECK_EQ_INT(lp_ptx_signature(PTX, sizeof PTX - 1, "commented_out", &p, &n, err, sizeof err), -1);
    CHECK_CONTAINS(err, "no kernel 'commented_out'");
    CHECK_CONTAINS(err, "saxpy, agg, noparams");
    CHECK(p == NULL);
    /* a prefix of a name is not the name */
    CHECK_EQ_INT(lp_ptx_signature(PTX, sizeof PTX - 1, "sax", &p, &n, err, sizeof err), -1);
    /* not PTX text: nothing to check here */
    static const unsigned char elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    CHECK_EQ_INT(lp_ptx_signature(elf, sizeof elf, "saxpy", &p, &n, err, sizeof err), 1);
    static const unsigned char fatbin[] = {0x50, 0xed, 0x55, 0xba, 1, 0, 0x10, 0};
    CHECK_EQ_INT(lp_ptx_signature(fatbin, sizeof fatbin, "saxpy", &p, &n, err, sizeof err), 1);
}

static void add_entry(const char *name, size_t len, void *user) {
    char *out = user;
    size_t k = strlen(out);
    snprintf(out + k, 256 - k, "%s%.*s", k ? "," : "", (int)len, name);
}

/* the kernels' names in order, the commented-out one not among them; the text ends at size */
static void test_entries(void) {
    char names[256] = "";
    CHECK_EQ_INT(lp_ptx_entries(PTX, sizeof PTX - 1, add_entry, names), 3);
    CHECK_STR(names, "saxpy,agg,noparams");
    names[0] = '\0';
    const char *cut = strstr(PTX, ".visible .entry agg");
    CHECK_EQ_INT(lp_ptx_entries(PTX, (size_t)(cut - PTX), add_entry, names), 1);
    CHECK_STR(names, "saxpy");
    names[0] = '\0';
    CHECK_EQ_INT(lp_ptx_entries("// .entry x\n.entry", 19, add_entry, names), 0); /* no name after it */
}

static void test_flag_words(void) {
    char out[512];
    cli_flag_words("gpu_count 9 exceeds the largest node (8 GPUs); above max_price_per_gpu_hour $1", out,
                   sizeof out);
    CHECK_STR(out, "--gpus 9 exceeds the largest node (8 GPUs); above --max-price $1");
    cli_flag_words("ttl_seconds, wait_ms, keepalive_seconds, min_gpu_memory, max_cost, gpu_model", out,
                   sizeof out);
    CHECK_STR(out, "--ttl, --wait, --keepalive, --min-memory, --max-cost, --gpu-model");
    /* whole words only */
    cli_flag_words("the_gpu_count and gpu_counts and max_cost_x stay", out, sizeof out);
    CHECK_STR(out, "the_gpu_count and gpu_counts and max_cost_x stay");
    /* a short buffer is cut, never overrun */
    char small[8];
    cli_flag_words("gpu_count", small, sizeof small);
    CHECK(strlen(small) < sizeof small);
}

static void test_formats(void) {
    char b[64];
    cli_fmt_gpu_seconds(1, b, sizeof b);
    CHECK_STR(b, "1 GPU-second");
    cli_fmt_gpu_seconds(0, b, sizeof b);
    CHECK_STR(b, "0 GPU-seconds");
    cli_fmt_gpu_seconds(2, b, sizeof b);
    CHECK_STR(b, "2 GPU-seconds");
    setenv("TZ", "UTC", 1);
    cli_fmt_time(1790000000, b, sizeof b);
    CHECK_STR(b, "2026-09-21 14:13:20 UTC");
    cli_fmt_time(0, b, sizeof b);
    CHECK_STR(b, "-");
}

static void test_log_levels(void) {
    CHECK_EQ_INT(lp_log_parse_level("error"), LP_LOG_ERROR);
    CHECK_EQ_INT(lp_log_parse_level("WARN"), LP_LOG_WARN);
    CHECK_EQ_INT(lp_log_parse_level("info"), LP_LOG_INFO);
    CHECK_EQ_INT(lp_log_parse_level("debug"), LP_LOG_DEBUG);
    CHECK_EQ_INT(lp_log_parse_level("verbose"), -1);
    CHECK_EQ_INT(lp_log_parse_level(""), -1);
    CHECK_EQ_INT(lp_log_parse_level(NULL), -1);
    char err[200];
    unsetenv("LEPTON_LOG_LEVEL");
    CHECK_EQ_INT(lp_log_check_env(err, sizeof err), 0);
    setenv("LEPTON_LOG_LEVEL", "debug", 1);
    CHECK_EQ_INT(lp_log_check_env(err, sizeof err), 0);
    setenv("LEPTON_LOG_LEVEL", "loud", 1);
    CHECK_EQ_INT(lp_log_check_env(err, sizeof err), -1);
    CHECK_CONTAINS(err, "LEPTON_LOG_LEVEL: 'loud' is not one of error, warn, info, debug");
    unsetenv("LEPTON_LOG_LEVEL");
}

int main(void) {
    CHECK_RUN(test_signature);
    CHECK_RUN(test_entries);
    CHECK_RUN(test_flag_words);
    CHECK_RUN(test_formats);
    CHECK_RUN(test_log_levels);
    return check_done("test_cli_words");
}
