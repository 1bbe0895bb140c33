// Which source hosts a server refuses unless it allows private ones (net/source_routes.h).
#include <gtest/gtest.h>

#include "net/source_routes.h"

namespace ablo::net {
namespace {

TEST(SourceHostTest, LoopbackPrivateAndLinkLocalAddressesArePrivate) {
  for (const char* host : {"localhost", "db.localhost", "127.0.0.1", "127.8.9.1", "10.0.0.7", "172.16.0.1",
                           "172.31.255.255", "192.168.1.1", "169.254.169.254", "0.0.0.0", "[::1]", "::1",
                           "fe80::1", "fd12:3456::1", "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(is_private_host(host)) << host;
  }
}

TEST(SourceHostTest, PublicAddressesAndNamesAreNot) {
  for (const char* host : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "2001:4860:4860::8888",
                           "app.example.com", "api.abloatai.com"}) {
    EXPECT_FALSE(is_private_host(host)) << host;
  }
}

}  // namespace
}  // namespace ablo::net
