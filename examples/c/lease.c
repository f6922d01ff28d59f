/* lease.c — the smallest complete lease: ask a broker for one GPU, show what was granted and what
 * it costs, hold it a moment, and give it back.
 *
 *   cc lease.c $(pkg-config --cflags --libs lepton) -o lease
 *   LEPTON_ENDPOINT=http://127.0.0.1:7700 LEPTON_TOKEN=... ./lease [SECONDS]
 */
#include <lepton/lepton.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned hold = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    lepton_client *client = NULL;
    if (lepton_client_open(&client, NULL) != LEPTON_OK) { /* endpoint and token from the environment */
        fprintf(stderr, "client: %s\n", lepton_last_error());
        return 1;
    }
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.gpu_count = 1;
    req.ttl_seconds = 300;
    req.max_cost = 1.0; /* never spend more than a dollar on this */
    lepton_lease *lease = NULL;
    int rc = lepton_lease_open(client, &req, &lease);
    if (rc != LEPTON_OK) {
        fprintf(stderr, "lease: %s: %s\n", lepton_status_name(rc), lepton_last_error());
        lepton_client_close(client);
        return 1;
    }
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    lepton_lease_get_info(lease, &info);
    printf("leased %u x %s on %s at $%.2f per GPU-hour (lease %s)\n", info.gpu_count, info.gpu_model,
           info.node, info.price_per_gpu_hour, info.id);
    sleep(hold);
    lepton_lease_get_info(lease, &info);
    printf("after %u s the lease has cost $%.6f\n", hold, info.cost);
    rc = lepton_lease_close(lease);
    lepton_client_close(client);
    return rc == LEPTON_OK ? 0 : 1;
}
