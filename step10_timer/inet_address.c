/* inet_address.c - see inet_address.h. */
#include "inet_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int inet_address_init(struct inet_address *addr, const char *ip, uint16_t port)
{
    memset(addr, 0, sizeof(*addr));
    addr->sin.sin_family = AF_INET;
    addr->sin.sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &addr->sin.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

uint16_t inet_address_port(const struct inet_address *addr)
{
    return ntohs(addr->sin.sin_port);
}

char *inet_address_to_string(const struct inet_address *addr, char *buf,
                             size_t size)
{
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &addr->sin.sin_addr, ip, sizeof(ip)))
        strcpy(ip, "?");
    snprintf(buf, size, "%s:%u", ip, inet_address_port(addr));
    return buf;
}
