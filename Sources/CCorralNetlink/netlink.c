#define _GNU_SOURCE
#include "corral_netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* Messages */

struct message {
    struct nlmsghdr header;
    char payload[1024];
};

static void message_start(struct message *m, uint16_t type, uint16_t flags, const void *fixed, size_t length)
{
    memset(m, 0, sizeof(*m));
    m->header.nlmsg_type = type;
    m->header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    m->header.nlmsg_len = NLMSG_LENGTH(length);
    memcpy(NLMSG_DATA(&m->header), fixed, length);
}

/* Appends an attribute; false when it does not fit (never for our sizes). */
static struct rtattr *attribute(struct message *m, uint16_t type, const void *data, size_t length)
{
    size_t at = NLMSG_ALIGN(m->header.nlmsg_len);
    if (at + RTA_SPACE(length) > sizeof(*m))
        return NULL;
    struct rtattr *a = (struct rtattr *) ((char *) m + at);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(length);
    if (length)
        memcpy(RTA_DATA(a), data, length);
    m->header.nlmsg_len = at + RTA_SPACE(length);
    return a;
}

static struct rtattr *nest_start(struct message *m, uint16_t type)
{
    return attribute(m, type, NULL, 0);
}

static void nest_end(struct message *m, struct rtattr *nest)
{
    nest->rta_len = (unsigned short) ((char *) m + m->header.nlmsg_len - (char *) nest);
}

static int string_attribute(struct message *m, uint16_t type, const char *text)
{
    return attribute(m, type, text, strlen(text) + 1) ? 0 : -EMSGSIZE;
}

/* ------------------------------------------------------------------------- */
/* One socket, requests answered by an acknowledgement */

static int open_route_socket(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *) &local, sizeof(local)) < 0) {
        int error = -errno;
        close(fd);
        return error;
    }
    return fd;
}

/* Sends `m` and waits for its acknowledgement: 0 or the kernel's -errno.
 * Other answers to it (a GETLINK's link) go to `answer` on the way. */
static int exchange(int fd, struct message *m, void (*answer)(const struct nlmsghdr *, void *), void *context)
{
    static __thread uint32_t sequence;
    m->header.nlmsg_seq = ++sequence;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    ssize_t sent;
    do {
        sent = sendto(fd, m, m->header.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return -errno;

    char reply[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        ssize_t length = recv(fd, reply, sizeof(reply), 0);
        if (length < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *) reply; NLMSG_OK(h, (size_t) length); h = NLMSG_NEXT(h, length)) {
            if (h->nlmsg_seq != m->header.nlmsg_seq)
                continue;
            if (h->nlmsg_type != NLMSG_ERROR) {
                if (answer)
                    answer(h, context);
                continue;
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                return -EBADMSG;
            return ((struct nlmsgerr *) NLMSG_DATA(h))->error;
        }
    }
}

static int request(int fd, struct message *m)
{
    return exchange(fd, m, NULL, NULL);
}

/* A link request naming the link (RTM_NEWLINK to change it, RTM_DELLINK, RTM_GETLINK). */
static int by_name(struct message *m, uint16_t type, const char *name)
{
    struct ifinfomsg info = { .ifi_family = AF_UNSPEC };
    message_start(m, type, 0, &info, sizeof(info));
    return string_attribute(m, IFLA_IFNAME, name);
}

/* Deletes link `name`: 0, or -ENODEV when there is none. */
static int delete_link(int fd, const char *name)
{
    struct message m;
    int error = by_name(&m, RTM_DELLINK, name);
    return error ? error : request(fd, &m);
}

/* ------------------------------------------------------------------------- */
/* Work on a short-lived thread, which alone changes its network namespace */

struct threaded {
    int (*body)(void *);
    void *argument;
    int result;
};

static void *threaded_main(void *raw)
{
    struct threaded *work = raw;
    work->result = work->body(work->argument);
    return NULL;
}

static int run_on_own_thread(int (*body)(void *), void *argument)
{
    struct threaded work = { body, argument, 0 };
    pthread_t thread;
    int error = pthread_create(&thread, NULL, threaded_main, &work);
    if (error)
        return -error;
    pthread_join(thread, NULL);
    return work.result;
}

/* ------------------------------------------------------------------------- */
/* Namespaces */

struct netns_add {
    const char *path;
    const char **step;
};

static int netns_add_on_thread(void *raw)
{
    struct netns_add *work = raw;
    if (unshare(CLONE_NEWNET) < 0) {
        *work->step = "unshare a network namespace";
        return -errno;
    }
    if (mount("/proc/thread-self/ns/net", work->path, "none", MS_BIND, NULL) < 0) {
        *work->step = "bind-mount the network namespace";
        return -errno;
    }
    return 0;
}

/* The directory of namespaces, a shared mount of itself (as `ip netns add` makes it). */
static int share_directory(const char *directory, const char **step)
{
    if (mkdir(directory, 0755) < 0 && errno != EEXIST) {
        *step = "create the network namespace directory";
        return -errno;
    }
    for (int bound = 0;; bound = 1) {
        if (mount("", directory, "none", MS_SHARED | MS_REC, NULL) == 0)
            return 0;
        if (errno != EINVAL || bound) {
            *step = "make the network namespace directory a shared mount";
            return -errno;
        }
        if (mount(directory, directory, "none", MS_BIND | MS_REC, NULL) < 0) {
            *step = "bind-mount the network namespace directory";
            return -errno;
        }
    }
}

int corral_netns_add(const char *path, const char **step)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int) sizeof(copy)) {
        *step = "name the network namespace";
        return -ENAMETOOLONG;
    }
    int error = share_directory(dirname(copy), step);
    if (error)
        return error;
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) {
        *step = "create the network namespace file";
        return -errno;
    }
    close(fd);
    struct netns_add work = { path, step };
    error = run_on_own_thread(netns_add_on_thread, &work);
    if (error) {
        if (*step == NULL)
            *step = "start a thread";
        unlink(path);
    }
    return error;
}

int corral_netns_delete(const char *path, const char **step)
{
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
        *step = "unmount the network namespace";
        return -errno;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        *step = "remove the network namespace file";
        return -errno;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Links */

static int set_up(int fd, int index)
{
    struct ifinfomsg info = { .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
    struct message m;
    message_start(&m, RTM_NEWLINK, 0, &info, sizeof(info));
    return request(fd, &m);
}

static int create_veth(int fd, const struct corral_veth_request *r, int bridge, int netns)
{
    struct ifinfomsg host = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
    /* Down: the kernel configures the peer before it links the pair (ENOTCONN). */
    struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
    struct message m;
    message_start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &host, sizeof(host));
    uint32_t master = (uint32_t) bridge;
    uint32_t netns_fd = (uint32_t) netns;
    if (string_attribute(&m, IFLA_IFNAME, r->host_name) || !attribute(&m, IFLA_MASTER, &master, sizeof(master)))
        return -EMSGSIZE;
    struct rtattr *linkinfo = nest_start(&m, IFLA_LINKINFO);
    if (!linkinfo || string_attribute(&m, IFLA_INFO_KIND, "veth"))
        return -EMSGSIZE;
    struct rtattr *data = nest_start(&m, IFLA_INFO_DATA);
    struct rtattr *peer_info = data ? attribute(&m, VETH_INFO_PEER, &peer, sizeof(peer)) : NULL;
    if (!peer_info || string_attribute(&m, IFLA_IFNAME, r->peer_name)
        || !attribute(&m, IFLA_ADDRESS, r->peer_mac, sizeof(r->peer_mac))
        || !attribute(&m, IFLA_NET_NS_FD, &netns_fd, sizeof(netns_fd)))
        return -EMSGSIZE;
    nest_end(&m, peer_info);
    nest_end(&m, data);
    nest_end(&m, linkinfo);
    return request(fd, &m);
}

static int set_alias(int fd, const char *name, const char *alias)
{
    struct message m;
    if (by_name(&m, RTM_NEWLINK, name) || string_attribute(&m, IFLA_IFALIAS, alias))
        return -EMSGSIZE;
    return request(fd, &m);
}

struct inside {
    const struct corral_veth_request *request;
    int netns;
    const char **step;
};

/* Loopback up, the address on the peer, the default route: inside the namespace. */
static int configure_inside_on_thread(void *raw)
{
    struct inside *work = raw;
    const struct corral_veth_request *r = work->request;
    if (setns(work->netns, CLONE_NEWNET) < 0) {
        *work->step = "enter the network namespace";
        return -errno;
    }
    int fd = open_route_socket();
    if (fd < 0) {
        *work->step = "open a netlink socket in the network namespace";
        return fd;
    }
    int error = 0;
    int loopback = (int) if_nametoindex("lo");
    int peer = (int) if_nametoindex(r->peer_name);
    if (!loopback || !peer) {
        *work->step = loopback ? "find the interface in the network namespace" : "find loopback in the network namespace";
        error = -ENODEV;
        goto done;
    }
    if ((error = set_up(fd, loopback))) {
        *work->step = "bring loopback up";
        goto done;
    }
    if ((error = set_up(fd, peer))) {
        *work->step = "bring the interface up";
        goto done;
    }

    struct ifaddrmsg address = {
        .ifa_family = AF_INET, .ifa_prefixlen = r->prefix_length, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (uint32_t) peer,
    };
    struct message m;
    message_start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &address, sizeof(address));
    attribute(&m, IFA_LOCAL, &r->address, 4);
    attribute(&m, IFA_ADDRESS, &r->address, 4);
    if ((error = request(fd, &m))) {
        *work->step = "add the address";
        goto done;
    }

    struct rtmsg route = {
        .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
        .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST,
    };
    uint32_t oif = (uint32_t) peer;
    message_start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &route, sizeof(route));
    attribute(&m, RTA_GATEWAY, &r->gateway, 4);
    attribute(&m, RTA_OIF, &oif, sizeof(oif));
    if ((error = request(fd, &m)))
        *work->step = "add the default route";
done:
    close(fd);
    return error;
}

int corral_veth_attach(const struct corral_veth_request *r, const char **step)
{
    int bridge = (int) if_nametoindex(r->bridge);
    if (!bridge) {
        *step = "find the bridge";
        return -ENODEV;
    }
    int netns = open(r->netns_path, O_RDONLY | O_CLOEXEC);
    if (netns < 0) {
        *step = "open the network namespace";
        return -errno;
    }
    int fd = open_route_socket();
    int error;
    if (fd < 0) {
        *step = "open a netlink socket";
        error = fd;
        goto done;
    }
    if ((error = create_veth(fd, r, bridge, netns))) {
        *step = "create the veth pair";
        goto done;
    }
    if ((error = set_alias(fd, r->host_name, r->alias))) {
        *step = "set the alias of the host end";
        goto removing;
    }
    struct inside work = { r, netns, step };
    error = run_on_own_thread(configure_inside_on_thread, &work);
    if (error && *step == NULL)
        *step = "start a thread";
removing:
    /* Deleting the host end takes the peer with it. */
    if (error)
        delete_link(fd, r->host_name);
done:
    if (fd >= 0)
        close(fd);
    close(netns);
    return error;
}

int corral_link_delete(const char *name, const char **step)
{
    int fd = open_route_socket();
    if (fd < 0) {
        *step = "open a netlink socket";
        return fd;
    }
    int error = delete_link(fd, name);
    close(fd);
    if (error == -ENODEV)
        return 0;
    if (error)
        *step = "delete the link";
    return error;
}

struct alias_answer {
    char *alias;
    size_t capacity;
};

static void take_alias(const struct nlmsghdr *h, void *raw)
{
    struct alias_answer *answer = raw;
    if (h->nlmsg_type != RTM_NEWLINK)
        return;
    int left = (int) IFLA_PAYLOAD(h);
    for (const struct rtattr *a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if (a->rta_type != IFLA_IFALIAS)
            continue;
        size_t n = RTA_PAYLOAD(a);
        const char *text = RTA_DATA(a);
        while (n > 0 && text[n - 1] == 0)
            n--;
        if (n >= answer->capacity)
            n = answer->capacity - 1;
        memcpy(answer->alias, text, n);
        answer->alias[n] = 0;
    }
}

int corral_link_alias(const char *name, char *alias, size_t capacity, const char **step)
{
    int fd = open_route_socket();
    if (fd < 0) {
        *step = "open a netlink socket";
        return fd;
    }
    alias[0] = 0;
    struct alias_answer answer = { alias, capacity };
    struct message m;
    int error = by_name(&m, RTM_GETLINK, name);
    if (!error)
        error = exchange(fd, &m, take_alias, &answer);
    close(fd);
    if (error && error != -ENODEV)
        *step = "read the link";
    return error;
}
