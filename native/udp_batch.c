// udp_batch: hands the kernel all the datagrams of one QUIC flush in one sendmmsg(2) call, instead of
// one send system call (and one libuv request) per 1350-byte packet. Where the kernel has UDP GSO
// (Linux 4.18+), each run of equal-sized packets (the last may be shorter) goes as one message with
// a UDP_SEGMENT size, so the kernel's send path runs once per run rather than once per packet; a
// socket that refuses GSO (EIO, EINVAL) turns it off for the process and the batch is sent again
// without. Optional: the tunnel falls back to node:dgram when this does not build or load
// (tunnel/quic/udp-batch.ts).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define MAX_BATCH 64
// The kernel's limits on one GSO message: 64 segments, 64 KiB in all.
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

static int gso_enabled = 1;

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// sendBatch(fd, buffer, lengths, count, host | null, port) -> datagrams sent (>= 0) or -errno.
// `buffer` holds the datagrams back to back; `lengths` (Uint32Array) their sizes. With host null the
// socket must be connected.
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return number(env, -EINVAL);
  int32_t fd, count, port;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return number(env, -EINVAL);
  void *data;
  size_t data_len;
  if (napi_get_buffer_info(env, argv[1], &data, &data_len) != napi_ok) return number(env, -EINVAL);
  napi_typedarray_type type;
  size_t n_lengths;
  void *lengths_data;
  if (napi_get_typedarray_info(env, argv[2], &type, &n_lengths, &lengths_data, NULL, NULL) != napi_ok ||
      type != napi_uint32_array)
    return number(env, -EINVAL);
  if (napi_get_value_int32(env, argv[3], &count) != napi_ok || count < 0 || (size_t)count > n_lengths)
    return number(env, -EINVAL);
  if (count > MAX_BATCH) count = MAX_BATCH;
  if (napi_get_value_int32(env, argv[5], &port) != napi_ok) return number(env, -EINVAL);

  struct sockaddr_storage addr;
  socklen_t addr_len = 0;
  napi_valuetype host_type;
  napi_typeof(env, argv[4], &host_type);
  if (host_type == napi_string) {
    char host[INET6_ADDRSTRLEN + 1];
    size_t host_len;
    if (napi_get_value_string_utf8(env, argv[4], host, sizeof host, &host_len) != napi_ok) return number(env, -EINVAL);
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
      a4->sin_family = AF_INET;
      a4->sin_port = htons((uint16_t)port);
      addr_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons((uint16_t)port);
      addr_len = sizeof *a6;
    } else {
      return number(env, -EINVAL);
    }
  }

  const uint32_t *lengths = (const uint32_t *)lengths_data;
  size_t total = 0;
  for (int i = 0; i < count; i++) total += lengths[i];
  if (total > data_len) return number(env, -EINVAL);

  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  // one control buffer per message, for its UDP_SEGMENT size
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[MAX_BATCH];
  // packets[m]: how many packets message m carries, to count what was sent
  int packets[MAX_BATCH];

  for (int attempt = 0; attempt < 2; attempt++) {
    int gso = gso_enabled;
    int n_msgs = 0;
    size_t offset = 0;
    for (int i = 0; i < count;) {
      uint32_t seg = lengths[i];
      int run = 1;
      size_t bytes = seg;
      if (gso) {
        while (i + run < count && run < GSO_MAX_SEGMENTS && bytes + lengths[i + run] <= GSO_MAX_BYTES &&
               lengths[i + run] == seg) {
          bytes += lengths[i + run];
          run++;
        }
        // a shorter packet may close the run
        if (i + run < count && run < GSO_MAX_SEGMENTS && lengths[i + run] < seg &&
            bytes + lengths[i + run] <= GSO_MAX_BYTES) {
          bytes += lengths[i + run];
          run++;
        }
      }
      struct msghdr *h = &msgs[n_msgs].msg_hdr;
      memset(&msgs[n_msgs], 0, sizeof msgs[n_msgs]);
      iovs[n_msgs].iov_base = (char *)data + offset;
      iovs[n_msgs].iov_len = bytes;
      h->msg_iov = &iovs[n_msgs];
      h->msg_iovlen = 1;
      if (addr_len > 0) {
        h->msg_name = &addr;
        h->msg_namelen = addr_len;
      }
      if (run > 1) {
        h->msg_control = ctrl[n_msgs].buf;
        h->msg_controllen = sizeof ctrl[n_msgs].buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(h);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)seg;
        memcpy(CMSG_DATA(cm), &size, sizeof size);
      }
      packets[n_msgs] = run;
      n_msgs++;
      offset += bytes;
      i += run;
    }
    int sent;
    do {
      sent = sendmmsg(fd, msgs, (unsigned int)n_msgs, MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0 && gso && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
      gso_enabled = 0;
      continue;
    }
    if (sent < 0) return number(env, -errno);
    int done = 0;
    for (int m = 0; m < sent; m++) done += packets[m];
    return number(env, done);
  }
  return number(env, -EIO);
}

static napi_value gso(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, gso_enabled != 0, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendBatch", NAPI_AUTO_LENGTH, send_batch, NULL, &fn);
  napi_set_named_property(env, exports, "sendBatch", fn);
  napi_value g;
  napi_create_function(env, "gso", NAPI_AUTO_LENGTH, gso, NULL, &g);
  napi_set_named_property(env, exports, "gso", g);
  napi_value max;
  napi_create_int32(env, MAX_BATCH, &max);
  napi_set_named_property(env, exports, "maxBatch", max);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
