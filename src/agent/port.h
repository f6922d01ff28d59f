/* port.h — checking that a listen address is free before serving on it. The project's HTTP
 * server binds with SO_REUSEPORT, which lets a second process share a busy port without an error;
 * a node agent or worker must not silently share its port with a stale one. */
#ifndef LEPTON_AGENT_PORT_H
#define LEPTON_AGENT_PORT_H

#include <stddef.h>

/* Returns 0 when "HOST:PORT" can be bound by this process alone, or -1 with a message in err. */
int lp_listen_available(const char *listen, char *err, size_t err_size);

#endif
