/* test_match.c — pure matching, refusal explanations and billing math (no database). */
#include "check.h"
#include "match.h"
#include "metering.h"
#include "wire.h"

static lp_pool pool(const char *node, const char *model, uint64_t mem, uint32_t total, uint32_t freec,
                    double price) {
    lp_pool p;
    memset(&p, 0, sizeof p);
    snprintf(p.node, sizeof p.node, "%s", node);
    snprintf(p.model, sizeof p.model, "%s", model);
    p.memory = mem;
    p.total = total;
    p.free = freec;
    p.price = price;
    p.ready = 1;
    return p;
}

static lp_lease_req req(uint32_t n, const char *model) {
    lp_lease_req r;
    memset(&r, 0, sizeof r);
    r.gpu_count = n;
    snprintf(r.gpu_model, sizeof r.gpu_model, "%s", model ? model : "");
    r.ttl_s = 3600;
    return r;
}

static void test_model_matching(void) {
    CHECK(lp_model_matches("NVIDIA H100 80GB HBM3", "h100"));
    CHECK(lp_model_matches("NVIDIA H100 80GB HBM3", "80gb hbm"));
    CHECK(lp_model_matches("anything", ""));
    CHECK(!lp_model_matches("NVIDIA A100", "H100"));
    CHECK(!lp_model_matches("H1", "H100"));
}

static void test_pick_cheapest(void) {
    lp_pool p[] = {pool("a", "NVIDIA H100", 80, 8, 8, 2.5), pool("b", "NVIDIA H100", 80, 8, 8, 1.9),
                   pool("c", "NVIDIA A100", 40, 8, 8, 1.0), pool("d", "NVIDIA H100", 80, 8, 1, 0.5)};
    lp_lease_req r = req(2, "h100");
    CHECK_EQ_INT(lp_match_pick(p, 4, &r), 1); /* d is cheaper but has 1 free; c is not an H100 */
    r = req(1, NULL);
    CHECK_EQ_INT(lp_match_pick(p, 4, &r), 3);
    r = req(2, NULL);
    r.min_memory = 50;
    CHECK_EQ_INT(lp_match_pick(p, 4, &r), 1);
    r.max_price = 1.5;
    CHECK_EQ_INT(lp_match_pick(p, 4, &r), -1);
    p[1].ready = 0;
    r = req(2, "h100");
    CHECK_EQ_INT(lp_match_pick(p, 4, &r), 0);
    /* ties on price go to the node name */
    lp_pool t[] = {pool("z", "X", 1, 1, 1, 1.0), pool("m", "X", 1, 1, 1, 1.0)};
    r = req(1, NULL);
    CHECK_EQ_INT(lp_match_pick(t, 2, &r), 1);
}

static void test_explain(void) {
    lp_pool p[] = {pool("a", "NVIDIA H100 80GB HBM3", 80, 2, 0, 2.5),
                   pool("b", "NVIDIA H100 80GB HBM3", 80, 1, 1, 2.5), pool("c", "A100-80GB", 80, 4, 4, 1.9)};
    lp_lease_req r = req(2, "H100");
    lp_err e = {0};
    lp_match_explain(p, 3, &r, &e);
    CHECK_STR(e.code, WIRE_NO_CAPACITY);
    CHECK_CONTAINS(e.message, "3 GPUs of matching model exist on 2 nodes, 1 are free");
    CHECK_CONTAINS(e.message, "closest: node b has 1 free NVIDIA H100 80GB HBM3 at $2.50/h");

    r = req(9, NULL);
    memset(&e, 0, sizeof e);
    lp_match_explain(p, 3, &r, &e);
    CHECK_STR(e.code, WIRE_NO_CAPACITY);
    CHECK_CONTAINS(e.hint, "exceeds the largest node (4 GPUs)");

    r = req(1, "B200");
    memset(&e, 0, sizeof e);
    lp_match_explain(p, 3, &r, &e);
    CHECK_STR(e.code, WIRE_NO_CAPACITY);
    CHECK_CONTAINS(e.message, "no GPUs of that kind exist");

    r = req(2, NULL);
    r.max_price = 1.0;
    memset(&e, 0, sizeof e);
    lp_match_explain(p, 3, &r, &e);
    CHECK_STR(e.code, WIRE_OVER_BUDGET);
    CHECK_CONTAINS(e.message, "$1.90/h");
}

static void test_cost_check(void) {
    lp_lease_req r = req(1, NULL);
    lp_err e = {0};
    r.max_cost = 0.0001; /* at $3.60/h one second costs $0.001 */
    CHECK_EQ_INT(lp_match_check_cost(&r, 3.6, &e), -1);
    CHECK_STR(e.code, WIRE_OVER_BUDGET);
    r.max_cost = 0.001;
    CHECK_EQ_INT(lp_match_check_cost(&r, 3.6, &e), 0);
    r.max_cost = 0;
    CHECK_EQ_INT(lp_match_check_cost(&r, 3.6, &e), 0);
    r.max_cost = 0.0001;
    CHECK_EQ_INT(lp_match_check_cost(&r, 0, &e), 0); /* free GPUs */
}

static void test_billing(void) {
    lp_bill b = lp_meter(1000, 1000, 2, 3.6, 0);
    CHECK_EQ_INT(b.billed_s, 0);
    CHECK_NEAR(b.cost, 0);
    b = lp_meter(1000, 1001, 2, 3.6, 0); /* 1 ms started a second */
    CHECK_EQ_INT(b.billed_s, 1);
    CHECK_EQ_INT(b.gpu_seconds, 2);
    CHECK_NEAR(b.cost, 0.002);
    b = lp_meter(0, 1000, 1, 3.6, 0);
    CHECK_EQ_INT(b.billed_s, 1);
    b = lp_meter(0, 1001, 1, 3.6, 0);
    CHECK_EQ_INT(b.billed_s, 2);
    b = lp_meter(0, 3600 * 1000, 4, 2.5, 0);
    CHECK_NEAR(b.cost, 10.0);
    b = lp_meter(0, 3600 * 1000, 4, 2.5, 7.5);
    CHECK_NEAR(b.cost, 7.5); /* capped */
    CHECK_EQ_INT(b.billed_s, 3600);
    CHECK_EQ_INT(lp_meter_cap_seconds(2, 2.5, 1.0), 720);
    CHECK_EQ_INT(lp_meter_cap_seconds(1, 3.6, 0.0105), 10);
    CHECK_EQ_INT(lp_meter_cap_seconds(1, 3.6, 0.1), 100); /* no second lost to rounding */
    CHECK_EQ_INT(lp_meter_cap_seconds(1, 3.6, 0), -1);
    CHECK_EQ_INT(lp_meter_cap_seconds(1, 0, 5), -1);
}

static void test_due(void) {
    lp_lease l;
    memset(&l, 0, sizeof l);
    l.state = LS_ACTIVE;
    l.gpu_count = 1;
    l.price = 3.6;
    l.ttl_s = 60;
    l.started_ms = 1000;
    l.expires_ms = 61000;
    l.max_cost = 0.0105;
    l.cap_ms = 11000;
    int st;
    int64_t end;
    char reason[256];
    CHECK(!lp_lease_due(&l, 10999, &st, &end, reason));
    CHECK(lp_lease_due(&l, 11000, &st, &end, reason));
    CHECK_EQ_INT(st, LS_EXHAUSTED);
    CHECK_EQ_INT(end, 11000);
    CHECK_CONTAINS(reason, "cost cap $0.0105 reached");
    { /* a cap below a cent is printed with its digits (was "cost cap $0.00 reached") */
        lp_lease t = l;
        t.max_cost = 0.003;
        CHECK(lp_lease_due(&t, 11000, &st, &end, reason));
        CHECK_CONTAINS(reason, "cost cap $0.003 reached");
    }
    lp_bill b = lp_lease_bill(&l, 50000); /* never billed past its end */
    CHECK_EQ_INT(b.billed_s, 10);
    CHECK_NEAR(b.cost, 0.01);
    l.cap_ms = 0;
    CHECK(lp_lease_due(&l, 61000, &st, &end, reason));
    CHECK_EQ_INT(st, LS_EXPIRED);
    CHECK_STR(reason, "TTL of 60 s reached");
    lp_lease_settle_view(&l, 70000);
    CHECK_EQ_INT(l.state, LS_EXPIRED);
    CHECK_EQ_INT(l.ended_ms, 61000);
}

int main(void) {
    CHECK_RUN(test_model_matching);
    CHECK_RUN(test_pick_cheapest);
    CHECK_RUN(test_explain);
    CHECK_RUN(test_cost_check);
    CHECK_RUN(test_billing);
    CHECK_RUN(test_due);
    return check_done("unit.broker.match");
}
