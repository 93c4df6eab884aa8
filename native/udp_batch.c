// udp_batch: hands the kernel all the datagrams of one QUIC flush in one sendmmsg(2) call, instead of
// one send system call (and one libuv request) per 1350-byte packet. Optional: the tunnel falls back
// to node:dgram when this does not build or load (tunnel/quic/udp-batch.ts).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BATCH 64

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
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iovs[MAX_BATCH];
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    if (offset + lengths[i] > data_len) return number(env, -EINVAL);
    iovs[i].iov_base = (char *)data + offset;
    iovs[i].iov_len = lengths[i];
    offset += lengths[i];
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    if (addr_len > 0) {
      msgs[i].msg_hdr.msg_name = &addr;
      msgs[i].msg_hdr.msg_namelen = addr_len;
    }
  }
  int sent;
  do {
    sent = sendmmsg(fd, msgs, (unsigned int)count, MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  return number(env, sent < 0 ? -errno : sent);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendBatch", NAPI_AUTO_LENGTH, send_batch, NULL, &fn);
  napi_set_named_property(env, exports, "sendBatch", fn);
  napi_value max;
  napi_create_int32(env, MAX_BATCH, &max);
  napi_set_named_property(env, exports, "maxBatch", max);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
