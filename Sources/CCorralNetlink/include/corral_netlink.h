#ifndef CORRAL_NETLINK_H
#define CORRAL_NETLINK_H

#include <stddef.h>
#include <stdint.h>

/*
 * An instance's network plumbing made in-process over rtnetlink, instead of
 * one `ip` process per step. Every function acts in the calling thread's
 * network namespace (entering another only for a moment, and returning), is
 * synchronous, and returns 0 or a negative errno; `*step` then names what
 * failed, as a static string.
 */

/* What `corral_veth_attach` makes. Addresses are in network byte order. */
struct corral_veth_request {
    const char *host_name;      /* the host end, a port of `bridge` */
    const char *alias;          /* set as the host end's ifalias */
    const char *bridge;
    const char *peer_name;      /* the end inside the namespace */
    uint8_t peer_mac[6];
    const char *netns_path;     /* an nsfs file such as /run/netns/NAME */
    uint32_t address;
    uint8_t prefix_length;
    uint32_t gateway;
};

/* Creates an empty network namespace bound at `path` (which must not exist),
 * in a directory made a shared mount the way iproute2 does, so `ip netns`
 * sees it and its removal reaches every mount namespace. */
int corral_netns_add(const char *path, const char **step);

/* Unmounts and removes a namespace made by `corral_netns_add`; 0 when absent. */
int corral_netns_delete(const char *path, const char **step);

/* Creates the veth pair: the host end up, a port of the bridge, with the alias;
 * the peer with the MAC in the namespace, up with the address and a default
 * route via the gateway, and loopback up there. Fails with -EEXIST when the
 * host end's name is taken; on any failure nothing of the pair is left. */
int corral_veth_attach(const struct corral_veth_request *request, const char **step);

/* Deletes a link by name; 0 when there is none. */
int corral_link_delete(const char *name, const char **step);

/* The alias of a link ("" when it has none) into `alias`; -ENODEV when there
 * is no link of that name. */
int corral_link_alias(const char *name, char *alias, size_t capacity, const char **step);

#endif
