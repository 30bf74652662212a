/* inet_address.h - the InetAddress class: an IPv4 address and port.
 *
 * A plain value (a struct sockaddr_in inside): copy it, keep it on the
 * stack, pass it by pointer. It owns nothing.
 */
#ifndef INET_ADDRESS_H
#define INET_ADDRESS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* "255.255.255.255:65535" and its terminating NUL. */
#define INET_ADDRESS_STRLEN 22

struct inet_address {
    struct sockaddr_in sin;  /* family, port and address, network order */
};

/* Sets addr from a dotted IPv4 string and a port in host order.
 * Returns -1 with errno = EINVAL when ip is not a dotted IPv4 address. */
int inet_address_init(struct inet_address *addr, const char *ip, uint16_t port);

uint16_t inet_address_port(const struct inet_address *addr);

/* Writes "ip:port" into buf (INET_ADDRESS_STRLEN bytes suffice), returns buf. */
char *inet_address_to_string(const struct inet_address *addr, char *buf,
                             size_t size);

#endif
