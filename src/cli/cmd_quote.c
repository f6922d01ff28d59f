/* cmd_quote.c — `lepton quote`: what a lease request would get now (liblepton's lepton_quote). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char cli_help_quote[] =
    "usage: lepton quote [--gpus N] [--gpu-model M] [--min-memory SIZE] [--max-price P] [--json]\n"
    "\n"
    "Lists the offers a lease with these requirements would get now, cheapest first. Reserves nothing.\n"
    "  --gpus N          GPUs on one node (default 1)\n"
    "  --gpu-model M     a model name containing M, e.g. H100 (default any)\n"
    "  --min-memory SIZE memory per GPU, e.g. 40G\n"
    "  --max-price P     only offers at most P USD per GPU-hour\n"
    "  --json            a JSON array of {node, gpu_model, gpu_memory, gpus_free, price_per_gpu_hour}\n"
    "No offer is not an error (exit 0); the reason is printed on stderr.\n"
    "\n"
    "examples:\n"
    "  lepton quote --gpus 2 --gpu-model H100\n"
    "  lepton quote --json | python3 -c 'import json,sys; "
    "print(json.load(sys.stdin)[0][\"price_per_gpu_hour\"])'\n";

int cmd_quote(const cli_global *g, int argc, char **argv) {
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    int json = 0;
    int prc = cli_request_flags("quote", cli_help_quote, argc, argv, &req, NULL, &json);
    if (prc) return prc < 0 ? 0 : prc;
    lepton_client *c;
    int rc = cli_client_open(g, &c);
    if (rc) return rc;
    lepton_offer *offers = NULL;
    size_t n = 0;
    rc = lepton_quote(c, &req, &offers, &n);
    if (rc) {
        rc = cli_fail(rc, "quote", lepton_last_error());
        lepton_client_close(c);
        return rc;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:f}", "node", offers[i].node,
                                                 "gpu_model", offers[i].gpu_model, "gpu_memory",
                                                 (json_int_t)offers[i].gpu_memory, "gpus_free",
                                                 (json_int_t)offers[i].gpus_free, "price_per_gpu_hour",
                                                 offers[i].price_per_gpu_hour));
        cli_print_json(arr);
        json_decref(arr);
    } else if (n > 0) {
        static const char *const hdr[] = {"NODE", "GPU MODEL", "MEMORY", "FREE", "PRICE/GPU-H", "TOTAL/H"};
        cli_table *t = cli_table_new(6, hdr);
        uint32_t want = req.gpu_count ? req.gpu_count : 1;
        for (size_t i = 0; i < n; i++) {
            char mem[32], freeb[16], price[32], total[32];
            cli_fmt_bytes(offers[i].gpu_memory, mem, sizeof mem);
            snprintf(freeb, sizeof freeb, "%u", offers[i].gpus_free);
            cli_fmt_money(offers[i].price_per_gpu_hour, price, sizeof price);
            cli_fmt_money(offers[i].price_per_gpu_hour * want, total, sizeof total);
            const char *row[] = {offers[i].node, offers[i].gpu_model, mem, freeb, price, total};
            cli_table_add(t, row);
        }
        cli_table_print(t);
        cli_table_free(t);
    }
    if (n == 0) {
        const char *why = lepton_last_error();
        fprintf(stderr, "lepton: no offers%s%s\n", why && *why ? ": " : "", why ? why : "");
        if (!json) printf("no offers\n");
    }
    lepton_offers_free(offers);
    lepton_client_close(c);
    return 0;
}
